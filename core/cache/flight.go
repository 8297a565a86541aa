package cache

import (
	"context"
	"fmt"
	"sync"
)

// Group makes concurrent loads of one key into one: the first caller to
// miss starts the load, and callers that ask for the key while it runs wait
// for its result. The zero value is ready to use; it is safe for concurrent
// use.
type Group[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*call[V]
}

type call[V any] struct {
	done    chan struct{}
	v       V
	err     error // v and err are written before done is closed
	waiters int   // guarded by the group's mu
	cancel  context.CancelFunc
}

// Do returns the value of key: from cached when it has one, else from the
// load under way for key, else from a new load.
//
// cached (may be nil) is the caller's own store, consulted under the
// group's lock when no load is under way, so that a caller that missed its
// store just before a load finished does not start a second one: load must
// therefore put its result where cached finds it before returning. cached
// must be quick and must not call Do.
//
// load runs on a goroutine of its own, with a context that carries ctx's
// values but ends only when every caller waiting for it has given up; then
// the key is free for a new load. A caller whose ctx ends returns ctx.Err()
// at once. A panic in load is returned as an error. fromCache reports that
// the value came from cached.
func (g *Group[K, V]) Do(ctx context.Context, key K, cached func() (V, bool), load func(context.Context) (V, error)) (v V, fromCache bool, err error) {
	g.mu.Lock()
	c := g.calls[key]
	if c == nil {
		if cached != nil {
			if v, ok := cached(); ok {
				g.mu.Unlock()
				return v, true, nil
			}
		}
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call[V]{done: make(chan struct{}), cancel: cancel}
		if g.calls == nil {
			g.calls = make(map[K]*call[V])
		}
		g.calls[key] = c
		go g.run(lctx, key, c, load)
	}
	c.waiters++
	g.mu.Unlock()

	select {
	case <-c.done:
		return c.v, false, c.err
	case <-ctx.Done():
		g.mu.Lock()
		c.waiters--
		if c.waiters == 0 && g.calls[key] == c {
			delete(g.calls, key)
			c.cancel()
		}
		g.mu.Unlock()
		return v, false, ctx.Err()
	}
}

func (g *Group[K, V]) run(ctx context.Context, key K, c *call[V], load func(context.Context) (V, error)) {
	defer c.cancel()
	v, err := func() (v V, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("cache: load panicked: %v", p)
			}
		}()
		return load(ctx)
	}()
	g.mu.Lock()
	if g.calls[key] == c {
		delete(g.calls, key)
	}
	g.mu.Unlock()
	c.v, c.err = v, err
	close(c.done)
}
