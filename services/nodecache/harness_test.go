package nodecache

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

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/centralcache"
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

// pair is a central cache and a node cache over it, on loopback ports and
// one fake clock, with a client for each.
type pair struct {
	clock            *fakeClock
	centralReg       *prometheus.Registry
	nodeReg          *prometheus.Registry
	node             *Server
	central, nodeAPI pb.CacheClient
}

func serveOn(t *testing.T, register func(*grpc.Server), opts []grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(append(grpctune.ServerOptions(), opts...)...)
	register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func dial(t *testing.T, addr string, maxPayload int) pb.CacheClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, append(grpctune.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(cachewire.CallOptions(maxPayload)...))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return pb.NewCacheClient(cc)
}

func startPair(t *testing.T, opts Options) *pair {
	t.Helper()
	p := &pair{clock: &fakeClock{now: time.Unix(1_700_000_000, 0)}, centralReg: prometheus.NewRegistry(), nodeReg: prometheus.NewRegistry()}
	central := centralcache.New(centralcache.Options{MaxTTL: time.Minute, Now: p.clock.Now, Registerer: p.centralReg})
	t.Cleanup(central.Close)
	centralAddr := serveOn(t, central.Register, central.ServerOptions())
	p.central = dial(t, centralAddr, 80<<20)
	opts.Upstream, opts.Now, opts.Registerer = dial(t, centralAddr, 80<<20), p.clock.Now, p.nodeReg
	node, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	p.node = node
	p.nodeAPI = dial(t, serveOn(t, node.Register, node.ServerOptions()), 80<<20)
	return p
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

// counter reads alpcrun_cache_requests_total{result} from reg.
func counter(t *testing.T, reg *prometheus.Registry, result string) float64 {
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

// centralGets is the number of Gets the central cache answered.
func (p *pair) centralGets(t *testing.T) float64 {
	return counter(t, p.centralReg, "hit") + counter(t, p.centralReg, "miss")
}

func (p *pair) get(t *testing.T, ctx context.Context, session string, lvl uint32) string {
	t.Helper()
	d, err := p.nodeAPI.GetSharedData(ctx, &pb.SharedData{SessionId: session, UpdateLevel: &lvl})
	if err != nil {
		t.Fatalf("Get(%s, %d) from the node: %v", session, lvl, err)
	}
	if d.GetUpdateLevel() != lvl || d.GetSessionId() != session {
		t.Fatalf("Get(%s, %d) answered %v", session, lvl, d)
	}
	return string(d.Payload)
}
