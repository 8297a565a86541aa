package grpctune_test

import (
	"context"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/bench"
	"github.com/alpcrun/alpcrun/services/grpctune"
)

func TestZeroSettingsAreGRPCDefaults(t *testing.T) {
	var s grpctune.Settings
	if n, m := len(s.ServerOptions()), len(s.DialOptions()); n != 0 || m != 0 {
		t.Fatalf("Settings{} gives %d server and %d dial options, want none", n, m)
	}
}

// relayRun sends tasks through a relay whose server uses server and whose
// clients use dial, and checks that each comes back exactly once.
func relayRun(t *testing.T, server, dial grpctune.Settings, s bench.Shape, tasks int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := bench.Transport{Server: server.ServerOptions(), Dial: dial.DialOptions()}
	sys := bench.StartRelay(tr)(ctx, t, s)
	res, err := bench.Run(ctx, sys.Stream, sys.SessionID, s, tasks)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Verify(tasks); err != nil {
		t.Fatal(err)
	}
}

// TestTunedCarriesLargeBatches sends 5 MB batches, over gRPC's default
// 4 MiB limit, through the tuned relay and its Codec.
func TestTunedCarriesLargeBatches(t *testing.T) {
	tuned := grpctune.Tuned()
	relayRun(t, tuned, tuned, bench.Shape{Workers: 2, Batch: 1000, Payload: 5000, Inflight: 2}, 3000)
}

// TestTunedInteroperates pairs tuned and default peers: the Codec keeps the
// standard wire format and content-subtype.
func TestTunedInteroperates(t *testing.T) {
	s := bench.Shape{Workers: 2, Batch: 50, Payload: 64, Inflight: 4}
	t.Run("server=tuned/clients=default", func(t *testing.T) {
		relayRun(t, grpctune.Tuned(), grpctune.Settings{}, s, 1000)
	})
	t.Run("server=default/clients=tuned", func(t *testing.T) {
		relayRun(t, grpctune.Settings{}, grpctune.Tuned(), s, 1000)
	})
}
