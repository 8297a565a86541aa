package centralcache

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/internal/cachewire"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testServer is a central cache on a loopback port, on a fake clock, with
// a client for it.
type testServer struct {
	*Server
	clock *fakeClock
	reg   *prometheus.Registry
	c     pb.CacheClient
}

func startServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	ts := &testServer{clock: &fakeClock{now: time.Unix(1_700_000_000, 0)}, reg: prometheus.NewRegistry()}
	opts.Now, opts.Registerer = ts.clock.Now, ts.reg
	ts.Server = New(opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(append(grpctune.ServerOptions(), ts.ServerOptions()...)...)
	ts.Register(g)
	go func() { _ = g.Serve(lis) }()
	cc, err := grpc.NewClient(lis.Addr().String(), append(grpctune.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(cachewire.CallOptions(ts.opts.MaxPayload+1<<20)...))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		g.Stop()
		ts.Close()
	})
	ts.c = pb.NewCacheClient(cc)
	return ts
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, c codes.Code) {
	t.Helper()
	if got := status.Code(err); got != c {
		t.Fatalf("code = %v (%v), want %v", got, err, c)
	}
}

func level(v uint32) *uint32 { return &v }

func data(session string, lvl *uint32, payload string, ttl time.Duration) *pb.SharedData {
	d := &pb.SharedData{SessionId: session, UpdateLevel: lvl, Payload: []byte(payload)}
	if ttl != 0 {
		d.Ttl = durationpb.New(ttl)
	}
	return d
}

// requests reads alpcrun_cache_requests_total{result} from reg.
func requests(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "alpcrun_cache_requests_total" {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
