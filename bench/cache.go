package bench

import (
	"context"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/nodecache"
)

// CacheSystem is the shared-data path served on loopback in this process,
// every server and client with the tuned transport and message limits that
// fit CacheMaxPayload, each client on its own connection:
//
//	Central   the central cache
//	Node      a node cache over Central that keeps what it fetches
//	NodeCold  a node cache over Central with cacheSize 0: it keeps
//	          nothing, so every Get is a miss fetched from Central
//	Echo      raw gRPC baseline: GetSharedData answers with the request
//	          itself, so the payload crosses the wire both ways
//	Raw       raw gRPC baseline: GetSharedData answers a small request
//	          with a prebuilt response, the same bytes on the wire as a
//	          cache Get with no cache behind it
type CacheSystem struct {
	Central, Node, NodeCold, Echo, Raw alpcrunpb.CacheClient
	centralReg                         *prometheus.Registry
	raw                                *rawCache
}

// CacheMaxPayload is the maxPayload of every server of a CacheSystem.
const CacheMaxPayload = 64 << 20

// StartCacheSystem starts a CacheSystem, stopped at tb's cleanup.
func StartCacheSystem(tb testing.TB) *CacheSystem {
	tb.Helper()
	sys := &CacheSystem{centralReg: prometheus.NewRegistry(), raw: &rawCache{resp: map[string]*alpcrunpb.SharedData{}}}
	central := startCentral(tb, sys.centralReg)
	centralAddr := cacheServe(tb, central.Register)
	sys.Central = alpcrunpb.NewCacheClient(cacheDial(tb, centralAddr))
	sys.Node = alpcrunpb.NewCacheClient(cacheDial(tb, startNode(tb, centralAddr, true)))
	sys.NodeCold = alpcrunpb.NewCacheClient(cacheDial(tb, startNode(tb, centralAddr, false)))
	sys.Echo = alpcrunpb.NewCacheClient(cacheDial(tb, cacheServe(tb, func(g *grpc.Server) {
		alpcrunpb.RegisterCacheServer(g, echoCache{})
	})))
	sys.Raw = alpcrunpb.NewCacheClient(cacheDial(tb, cacheServe(tb, func(g *grpc.Server) {
		alpcrunpb.RegisterCacheServer(g, sys.raw)
	})))
	return sys
}

// Put stores payload as session's shared data at level 0 in the central
// cache, and as the Raw baseline's answer for session.
func (s *CacheSystem) Put(ctx context.Context, session string, payload []byte) error {
	if _, err := s.Central.SetSharedData(ctx, &alpcrunpb.SharedData{SessionId: session, Payload: payload}); err != nil {
		return err
	}
	level := uint32(0)
	s.raw.mu.Lock()
	s.raw.resp[session] = &alpcrunpb.SharedData{SessionId: session, UpdateLevel: &level, Payload: payload}
	s.raw.mu.Unlock()
	return nil
}

// CentralGets is the number of Gets the central cache has answered.
func (s *CacheSystem) CentralGets() (float64, error) {
	mfs, err := s.centralReg.Gather()
	if err != nil {
		return 0, err
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "alpcrun_cache_requests_total" {
			for _, m := range mf.Metric {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n, nil
}

// echoCache answers GetSharedData with its request.
type echoCache struct {
	alpcrunpb.UnimplementedCacheServer
}

func (echoCache) GetSharedData(_ context.Context, req *alpcrunpb.SharedData) (*alpcrunpb.SharedData, error) {
	return req, nil
}

// rawCache answers GetSharedData with the response Put prepared.
type rawCache struct {
	alpcrunpb.UnimplementedCacheServer
	mu   sync.Mutex
	resp map[string]*alpcrunpb.SharedData
}

func (r *rawCache) GetSharedData(_ context.Context, req *alpcrunpb.SharedData) (*alpcrunpb.SharedData, error) {
	r.mu.Lock()
	resp := r.resp[req.GetSessionId()]
	r.mu.Unlock()
	if resp == nil {
		return nil, status.Error(codes.NotFound, "bench: no such session")
	}
	return resp, nil
}

// startCentral starts a central cache with CacheMaxPayload, stopped at
// tb's cleanup.
func startCentral(tb testing.TB, reg prometheus.Registerer) *centralcache.Server {
	tb.Helper()
	opts := centralcache.DefaultOptions()
	opts.MaxPayload, opts.Registerer = CacheMaxPayload, reg
	central, err := centralcache.New(opts)
	if err != nil {
		tb.Fatalf("bench: central cache: %v", err)
	}
	tb.Cleanup(central.Close)
	return central
}

// startNode serves a node cache over the central cache at centralAddr
// until tb's cleanup, and returns its address. It keeps 1 GiB of what it
// fetches, or nothing.
func startNode(tb testing.TB, centralAddr string, keep bool) string {
	tb.Helper()
	opts := nodecache.DefaultOptions()
	opts.MaxPayload, opts.Upstream, opts.CacheSize = CacheMaxPayload, alpcrunpb.NewCacheClient(cacheDial(tb, centralAddr)), 0
	if keep {
		opts.CacheSize = 1 << 30
	}
	node, err := nodecache.New(opts)
	if err != nil {
		tb.Fatalf("bench: node cache: %v", err)
	}
	tb.Cleanup(node.Close)
	return cacheServe(tb, node.Register)
}

// cacheServe serves a Cache service on the cache tier's tuned transport.
func cacheServe(tb testing.TB, register func(*grpc.Server)) string {
	tb.Helper()
	g := grpc.NewServer(centralcache.TunedServerOptions(CacheMaxPayload)...)
	register(g)
	return servicetest.ServeServer(tb, g)
}

func cacheDial(tb testing.TB, addr string) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(addr, append(centralcache.TunedDialOptions(CacheMaxPayload),
		grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		tb.Fatalf("bench: dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}
