package nodecache

import (
	"context"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/internal/cachewire"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/centralcache"
)

// pair is a central cache and a node cache over it, on loopback ports and
// one fake clock, with a client for each.
type pair struct {
	clock            *servicetest.Clock
	centralReg       *prometheus.Registry
	nodeReg          *prometheus.Registry
	node             *Server
	central, nodeAPI pb.CacheClient
}

func dial(t *testing.T, addr string) pb.CacheClient {
	return pb.NewCacheClient(servicetest.Dial(t, addr, grpc.WithDefaultCallOptions(cachewire.CallOptions(80<<20)...)))
}

// startPair starts the pair, the node cache with opts whose zero fields
// take DefaultOptions' values.
func startPair(t *testing.T, opts Options) *pair {
	t.Helper()
	p := &pair{clock: servicetest.NewClock(), centralReg: prometheus.NewRegistry(), nodeReg: prometheus.NewRegistry()}
	copts := centralcache.DefaultOptions()
	copts.MaxTTL, copts.Now, copts.Registerer = time.Minute, p.clock.Now, p.centralReg
	_, centralAddr := servicetest.Start(t, centralcache.New, copts)
	p.central = dial(t, centralAddr)
	opts.Upstream, opts.Now, opts.Registerer = dial(t, centralAddr), p.clock.Now, p.nodeReg
	node, nodeAddr := servicetest.Start(t, New, servicetest.Defaults(opts, DefaultOptions()))
	p.node, p.nodeAPI = node, dial(t, nodeAddr)
	return p
}

func level(v uint32) *uint32 { return &v }

// counter reads alpcrun_cache_requests_total{result} from reg.
func counter(t *testing.T, reg *prometheus.Registry, result string) float64 {
	return servicetest.Counter(t, reg, "alpcrun_cache_requests_total", "result", result)
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
