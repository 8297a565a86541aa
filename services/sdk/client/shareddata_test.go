package client_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/internal/servicetest/servers"
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/sdk"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

func startCentralCache(t *testing.T) string {
	t.Helper()
	_, addr := servers.CentralCache(t, centralcache.Options{MaxPayload: 1 << 10})
	return addr
}

func TestSharedData(t *testing.T) {
	ctx := testCtx(t)
	t.Setenv(sdk.EnvCentralCacheAddr, startCentralCache(t))
	sd, err := client.DialSharedData(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()

	if err := sd.Set(ctx, "s", 3, []byte("three"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := sd.Set(ctx, "s", 4, nil, 0); !errors.Is(err, client.ErrAlreadyExists) {
		t.Fatalf("second Set: %v", err)
	}
	if p, err := sd.Get(ctx, "s", 3); err != nil || string(p) != "three" {
		t.Fatalf("Get(3) = %q, %v", p, err)
	}
	_, err = sd.Get(ctx, "s", 2)
	if !errors.Is(err, client.ErrLevelMismatch) || status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Get(2): %v", err)
	}
	if lvl, err := sd.Update(ctx, "s", []byte("four"), 0); err != nil || lvl != 4 {
		t.Fatalf("Update = %d, %v", lvl, err)
	}
	if err := sd.UpdateTo(ctx, "s", 4, nil, 0); !errors.Is(err, client.ErrLevelMismatch) {
		t.Fatalf("UpdateTo the same level: %v", err)
	}
	if err := sd.UpdateTo(ctx, "s", 9, []byte("nine"), 0); err != nil {
		t.Fatal(err)
	}
	if p, lvl, err := sd.Newest(ctx, "s"); err != nil || lvl != 9 || string(p) != "nine" {
		t.Fatalf("Newest = %q, %d, %v", p, lvl, err)
	}
	if err := sd.Set(ctx, "big", 0, make([]byte, 1<<10+1), 0); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("Set over maxPayload: %v", err)
	}
	if err := sd.Delete(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := sd.Delete(ctx, "s"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := sd.Get(ctx, "s", 9); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
}
