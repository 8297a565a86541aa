package cache

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitWaiters waits, with a deadline, until n callers wait for key's load.
func waitWaiters[K comparable, V any](t *testing.T, g *Group[K, V], key K, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		c := g.calls[key]
		got := 0
		if c != nil {
			got = c.waiters
		}
		g.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", got, n)
		}
		runtime.Gosched()
	}
}

// TestGroupOneLoad: however the callers interleave with the load, the
// cached check under the group's lock leaves exactly one load.
func TestGroupOneLoad(t *testing.T) {
	var g Group[string, int]
	var mu sync.Mutex
	store := map[string]int{}
	var loads atomic.Int32
	cached := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		v, ok := store["k"]
		return v, ok
	}
	load := func(context.Context) (int, error) {
		loads.Add(1)
		mu.Lock()
		store["k"] = 42
		mu.Unlock()
		return 42, nil
	}
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if v, _, err := g.Do(context.Background(), "k", cached, load); v != 42 || err != nil {
				t.Errorf("Do = %d, %v", v, err)
			}
		})
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads, want 1", n)
	}
}

func TestGroupWaiterGivesUp(t *testing.T) {
	var g Group[string, string]
	release := make(chan struct{})
	loadCtx := make(chan context.Context, 1)
	load := func(ctx context.Context) (string, error) {
		loadCtx <- ctx
		<-release
		return "v", nil
	}
	quitter, quit := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, _, err := g.Do(quitter, "k", nil, load); gaveUp <- err }()
	lctx := <-loadCtx
	got := make(chan string, 1)
	go func() { v, _, _ := g.Do(context.Background(), "k", nil, load); got <- v }()
	waitWaiters(t, &g, "k", 2)
	quit()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller that gave up got %v", err)
	}
	if lctx.Err() != nil {
		t.Fatal("load cancelled while a caller still waits")
	}
	close(release)
	if v := <-got; v != "v" {
		t.Fatalf("remaining caller got %q", v)
	}
}

func TestGroupAllGiveUp(t *testing.T) {
	var g Group[string, string]
	loadDone := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() {
		<-started
		cancel()
	}()
	_, _, err := g.Do(ctx, "k", nil, func(lctx context.Context) (string, error) {
		close(started)
		<-lctx.Done()
		loadDone <- lctx.Err()
		return "", lctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v", err)
	}
	if err := <-loadDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned load saw %v", err)
	}
	// The key is free again: a new caller starts a new load.
	v, _, err := g.Do(context.Background(), "k", nil, func(context.Context) (string, error) { return "fresh", nil })
	if v != "fresh" || err != nil {
		t.Fatalf("Do after abandon = %q, %v", v, err)
	}
}

func TestGroupPanicAndError(t *testing.T) {
	var g Group[int, int]
	_, _, err := g.Do(context.Background(), 1, nil, func(context.Context) (int, error) { panic("boom") })
	if err == nil || err.Error() != "cache: load panicked: boom" {
		t.Fatalf("panic became %v", err)
	}
	boom := errors.New("boom")
	_, _, err = g.Do(context.Background(), 1, nil, func(context.Context) (int, error) { return 0, boom })
	wantErr(t, err, boom)
	v, fromCache, err := g.Do(context.Background(), 1, func() (int, bool) { return 7, true }, nil)
	if v != 7 || !fromCache || err != nil {
		t.Fatalf("cached Do = %d, %v, %v", v, fromCache, err)
	}
}
