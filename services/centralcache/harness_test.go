package centralcache

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/alpcrun/alpcrun/internal/cachewire"
	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// testServer is a central cache on a loopback port, on a fake clock, with
// a client for it.
type testServer struct {
	*Server
	clock *servicetest.Clock
	reg   *prometheus.Registry
	c     pb.CacheClient
}

// startServer serves a central cache with opts, whose zero fields take
// DefaultOptions' values, until the test ends.
func startServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	ts := &testServer{clock: servicetest.NewClock(), reg: prometheus.NewRegistry()}
	opts.Now, opts.Registerer = ts.clock.Now, ts.reg
	srv, addr := servicetest.Start(t, New, servicetest.Defaults(opts, DefaultOptions()))
	ts.Server = srv
	ts.c = pb.NewCacheClient(servicetest.Dial(t, addr, grpc.WithDefaultCallOptions(cachewire.CallOptions(int(srv.opts.MaxPayload)+1<<20)...)))
	return ts
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
	return servicetest.Counter(t, reg, "alpcrun_cache_requests_total", "result", result)
}
