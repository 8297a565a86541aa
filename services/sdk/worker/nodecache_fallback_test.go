package worker_test

import (
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	"github.com/alpcrun/alpcrun/internal/servicetest/servers"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/nodecache"
	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// TestNodeCacheFallback: with WithCentralCacheFallback a worker whose node
// cache is down reads a level it lacks from the central cache; without it
// the read fails UNAVAILABLE; a NOT_FOUND from a live node cache is not
// retried elsewhere.
func TestNodeCacheFallback(t *testing.T) {
	ctx := testCtx(t)
	_, centralAddr := servers.CentralCache(t, centralcache.Options{})
	opts := nodecache.DefaultOptions()
	opts.CacheSize, opts.Upstream = 1<<20, pb.NewCacheClient(servicetest.Dial(t, centralAddr))
	node, err := nodecache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	// Served here, not by servers.NodeCache, to be stopped mid-test.
	nodeSrv := grpc.NewServer(append(grpctune.ServerOptions(), node.ServerOptions()...)...)
	node.Register(nodeSrv)
	nodeAddr := servicetest.ServeServer(t, nodeSrv)

	sd, err := client.DialSharedData(ctx, centralAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	if err := sd.Set(ctx, "s", 1, []byte("one"), time.Minute); err != nil {
		t.Fatal(err)
	}

	withFallback, err := worker.NewNodeCache(nodeAddr, worker.WithCentralCacheFallback(centralAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { withFallback.Close() })
	without, err := worker.NewNodeCache(nodeAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { without.Close() })

	if v, err := withFallback.Get(ctx, "s", 1); err != nil || string(v.([]byte)) != "one" {
		t.Fatalf("level 1 through the node cache: %q, %v", v, err)
	}
	if _, err := withFallback.Get(ctx, "unknown", 1); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown session through a live node cache: %v, want NOT_FOUND", err)
	}

	nodeSrv.Stop()
	if err := sd.UpdateTo(ctx, "s", 2, []byte("two"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := withFallback.Get(ctx, "s", 2); err != nil || string(v.([]byte)) != "two" {
		t.Fatalf("level 2 with the node cache down, through the fallback: %q, %v", v, err)
	}
	if _, err := without.Get(ctx, "s", 2); status.Code(err) != codes.Unavailable {
		t.Fatalf("level 2 with the node cache down and no fallback: %v, want UNAVAILABLE", err)
	}

	// A node cache that accepts connections and never answers (a frozen
	// process) costs a connect timeout, not the read: the fallback answers
	// well within testCtx's deadline, which gRPC's default 20s connect
	// timeout would reach.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mute.Close() })
	frozen, err := worker.NewNodeCache(mute.Addr().String(), worker.WithCentralCacheFallback(centralAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { frozen.Close() })
	if v, err := frozen.Get(ctx, "s", 2); err != nil || string(v.([]byte)) != "two" {
		t.Fatalf("level 2 with a mute node cache, through the fallback: %q, %v", v, err)
	}
}
