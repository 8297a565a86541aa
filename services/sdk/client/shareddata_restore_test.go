package client_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

// restartableCache is a central cache that can be restarted on its
// address, losing its data.
type restartableCache struct {
	t    *testing.T
	addr string
	stop func()
}

func (c *restartableCache) start() {
	c.t.Helper()
	srv, err := centralcache.New(centralcache.DefaultOptions())
	if err != nil {
		c.t.Fatal(err)
	}
	addr := c.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.addr = lis.Addr().String()
	g := grpc.NewServer(append(grpctune.ServerOptions(), srv.ServerOptions()...)...)
	srv.Register(g)
	go func() { _ = g.Serve(lis) }()
	c.stop = func() {
		g.Stop()
		srv.Close()
	}
}

// The central cache restarts: the owner's Update writes its data again
// before updating, and Keep restores data nobody updates, so readers find
// it again.
func TestSharedDataRestoredAfterCacheRestart(t *testing.T) {
	ctx := testCtx(t)
	cache := &restartableCache{t: t}
	cache.start()
	t.Cleanup(func() { cache.stop() })
	sd, err := client.DialSharedData(ctx, cache.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	if err := sd.Set(ctx, "kept", 1, []byte("one"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := sd.Set(ctx, "updated", 5, []byte("five"), time.Minute); err != nil {
		t.Fatal(err)
	}

	cache.stop()
	cache.start()
	// Calls fail fast with ErrUnavailable until the connection is back.
	retry := func(call func() error) error {
		for {
			err := call()
			if !errors.Is(err, client.ErrUnavailable) || ctx.Err() != nil {
				return err
			}
		}
	}
	if err := retry(func() error { _, err := sd.Get(ctx, "kept", 1); return err }); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get after the restart: %v, want ErrNotFound", err)
	}
	var lvl uint32
	err = retry(func() (err error) { lvl, err = sd.Update(ctx, "updated", []byte("six"), time.Minute); return err })
	if err != nil || lvl != 6 {
		t.Fatalf("Update after the restart = %d, %v; want level 6", lvl, err)
	}

	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go sd.Keep(kctx, 10*time.Millisecond)
	for {
		p, err := sd.Get(ctx, "kept", 1)
		if err == nil {
			if string(p) != "one" {
				t.Fatalf("restored %q", p)
			}
			break
		}
		if !errors.Is(err, client.ErrNotFound) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("Keep did not restore the data")
		case <-time.After(5 * time.Millisecond): // poll interval, not a wait for an event
		}
	}
	if p, err := sd.Get(ctx, "updated", 6); err != nil || string(p) != "six" {
		t.Fatalf("Get(updated, 6) = %q, %v", p, err)
	}
	if n := sd.Restored(); n != 2 {
		t.Fatalf("restored %d times, want 2", n)
	}
}
