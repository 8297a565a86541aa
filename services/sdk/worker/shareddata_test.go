package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	"github.com/alpcrun/alpcrun/internal/servicetest/servers"
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/nodecache"
	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// startCaches serves a central cache and a node cache over it; gets reads
// how many Gets the node cache answered.
func startCaches(t *testing.T) (nodeAddr string, gets func() float64) {
	t.Helper()
	_, centralAddr := servers.CentralCache(t, centralcache.Options{})
	reg := prometheus.NewRegistry()
	_, nodeAddr = servers.NodeCache(t, nodecache.Options{CacheSize: 1 << 20, Registerer: reg}, centralAddr)
	return nodeAddr, func() float64 { return servicetest.Counter(t, reg, "alpcrun_cache_requests_total") }
}

// TestNodeCacheLevelChange: a worker reads a session's shared data through
// its node cache while the client moves the session to a new level
// mid-run; each level is fetched and decoded once.
func TestNodeCacheLevelChange(t *testing.T) {
	qm := startQM(t)
	nodeAddr, nodeGets := startCaches(t)
	ctx := testCtx(t)

	sd, err := client.DialSharedData(ctx, nodeAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	lvl := uint32(1)
	s := session(t, ctx, qm, client.SessionOptions{SharedDataLevel: &lvl})
	if err := sd.Set(ctx, s.ID(), lvl, []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}

	var decodes atomic.Int32
	nc, err := worker.NewNodeCache(nodeAddr, worker.WithDecoder(func(p []byte) (any, error) {
		decodes.Add(1)
		return string(p), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	h := func(_ context.Context, tk worker.Task) ([]byte, error) {
		return []byte(tk.SharedData.(string)), nil
	}
	runWorker(t, newWorker(t, qm, h, worker.WithSharedData(nc), worker.WithConcurrency(4)))

	phase := func(name, want string, n int) {
		t.Helper()
		for i := range n {
			if err := s.Submit(ctx, fmt.Sprintf("%s-%d", name, i), nil); err != nil {
				t.Fatal(err)
			}
		}
		for range n {
			select {
			case r := <-s.Results():
				if !strings.HasPrefix(r.ID, name) || string(r.Payload) != want {
					t.Fatalf("result %s = %q, want %q", r.ID, r.Payload, want)
				}
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
		}
	}
	phase("one", "v1", 50)
	next, err := sd.Update(ctx, s.ID(), []byte("v2"), 0)
	if err != nil || next != 2 {
		t.Fatalf("Update = %d, %v", next, err)
	}
	s.SetSharedDataLevel(&next)
	phase("two", "v2", 50)
	s.CloseSend()
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if d := decodes.Load(); d != 2 {
		t.Fatalf("%d decodes, want one per level", d)
	}
	if got := nodeGets(); got != 2 {
		t.Fatalf("the node cache answered %v Gets, want one per level", got)
	}
}

// TestNodeCacheGet: failed fetches are not kept, and at most WithKeep
// values are.
func TestNodeCacheGet(t *testing.T) {
	nodeAddr, nodeGets := startCaches(t)
	ctx := testCtx(t)
	nc, err := worker.NewNodeCache(nodeAddr, worker.WithNodeCacheKeep(1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, err = nc.Get(ctx, "s", 0)
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "worker: node cache") {
		t.Fatalf("Get before Set: %v", err)
	}
	sd, err := client.DialSharedData(ctx, nodeAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	if err := sd.Set(ctx, "s", 0, []byte("zero"), 0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if v, err := nc.Get(ctx, "s", 0); err != nil || string(v.([]byte)) != "zero" {
			t.Fatalf("Get = %v, %v", v, err)
		}
	}
	if _, err := sd.Update(ctx, "s", []byte("one"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Get(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
	before := nodeGets()
	if _, err := nc.Get(ctx, "s", 0); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("level 0 after it was evicted and replaced: %v", err)
	}
	if got := nodeGets(); got != before+1 {
		t.Fatalf("evicted value not fetched again (%v Gets, was %v)", got, before)
	}
}
