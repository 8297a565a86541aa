package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/internal/servicetest"
)

// upstream is a Fetch backed by a Store, counting its calls.
type upstream struct {
	s     *Store
	c     *servicetest.Clock
	calls atomic.Int32
}

func (u *upstream) fetch(_ context.Context, k Key) (Entry, error) {
	u.calls.Add(1)
	var level *uint32
	if !k.Newest {
		level = &k.Level
	}
	return u.s.Get(k.Session, level)
}

func newTestNode(capacity int64) (*Node, *upstream, *servicetest.Clock) {
	c := servicetest.NewClock()
	u := &upstream{s: NewStore(StoreConfig{MaxTTL: time.Minute, Now: c.Now}), c: c}
	return NewNode(NodeConfig{Capacity: capacity, Fetch: u.fetch, Now: c.Now}), u, c
}

func (u *upstream) set(t *testing.T, session string, level uint32, size int) {
	t.Helper()
	if _, err := u.s.Delete(session); err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := u.s.Set(Write{Session: session, Level: &level, Payload: make([]byte, size)}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, n *Node, session string, level uint32) (Entry, bool) {
	t.Helper()
	e, hit, err := n.Get(context.Background(), Key{Session: session, Level: level})
	if err != nil {
		t.Fatalf("Get(%s, %d): %v", session, level, err)
	}
	return e, hit
}

func TestNodeHitMissAndLevels(t *testing.T) {
	n, u, _ := newTestNode(1 << 20)
	u.set(t, "s", 1, 10)
	if _, hit := get(t, n, "s", 1); hit {
		t.Fatal("first Get was a hit")
	}
	if e, hit := get(t, n, "s", 1); !hit || e.Level != 1 || len(e.Payload) != 10 {
		t.Fatalf("second Get = %+v, hit %v", e, hit)
	}
	// A new level upstream: the node fetches it and keeps both.
	if _, err := u.s.Update(Write{Session: "s", Payload: make([]byte, 20)}); err != nil {
		t.Fatal(err)
	}
	if e, hit := get(t, n, "s", 2); hit || len(e.Payload) != 20 {
		t.Fatalf("Get(2) = %+v, hit %v", e, hit)
	}
	if _, hit := get(t, n, "s", 1); !hit {
		t.Fatal("level 1 was dropped")
	}
	if calls := u.calls.Load(); calls != 2 {
		t.Fatalf("%d fetches, want 2", calls)
	}
	// Errors pass through and are not kept.
	_, _, err := n.Get(context.Background(), Key{Session: "s", Level: 3})
	wantErr(t, err, ErrLevel)
	_, _, err = n.Get(context.Background(), Key{Session: "nope", Level: 3})
	wantErr(t, err, ErrNotFound)
	// Newest always asks upstream, and keeps the answer under its level.
	e, hit, err := n.Get(context.Background(), Key{Session: "s", Level: 99, Newest: true})
	if err != nil || hit || e.Level != 2 {
		t.Fatalf("Get(newest) = %+v, %v, %v", e, hit, err)
	}
	if entries, _ := n.Stats(); entries != 2 {
		t.Fatalf("%d entries, want 2", entries)
	}
	if got := n.Forget("s"); got != 2 {
		t.Fatalf("Forget removed %d", got)
	}
	if _, hit := get(t, n, "s", 2); hit {
		t.Fatal("hit after Forget")
	}
}

func TestNodeEvictsLeastRecent(t *testing.T) {
	const payload = 100
	w := int64(payload + 1 + Overhead) // one-letter session ids
	n, u, _ := newTestNode(3 * w)
	for _, s := range []string{"a", "b", "c", "d"} {
		u.set(t, s, 0, payload)
	}
	get(t, n, "a", 0)
	get(t, n, "b", 0)
	get(t, n, "c", 0)
	get(t, n, "a", 0) // a is now more recent than b
	get(t, n, "d", 0) // evicts b
	if entries, bytes := n.Stats(); entries != 3 || bytes != 3*w {
		t.Fatalf("Stats = %d, %d; want 3, %d", entries, bytes, 3*w)
	}
	for s, want := range map[string]bool{"a": true, "c": true, "d": true} {
		if _, hit := get(t, n, s, 0); hit != want {
			t.Errorf("%s: hit %v", s, hit)
		}
	}
	if _, hit := get(t, n, "b", 0); hit {
		t.Error("b survived eviction")
	}
	// An entry heavier than the capacity is served but not kept.
	u.set(t, "big", 0, int(3*w))
	get(t, n, "big", 0)
	if _, hit := get(t, n, "big", 0); hit {
		t.Error("oversized entry kept")
	}
	if _, bytes := n.Stats(); bytes > 3*w {
		t.Errorf("%d bytes held, capacity %d", bytes, 3*w)
	}
}

func TestNodeZeroCapacity(t *testing.T) {
	n, u, _ := newTestNode(0)
	u.set(t, "s", 0, 1)
	for range 3 {
		if _, hit := get(t, n, "s", 0); hit {
			t.Fatal("hit with capacity 0")
		}
	}
	if calls := u.calls.Load(); calls != 3 {
		t.Fatalf("%d fetches, want 3", calls)
	}
}

// TestNodeTTL: the node keeps an entry for the TTL upstream reported when
// it was fetched.
func TestNodeTTL(t *testing.T) {
	n, u, c := newTestNode(1 << 20)
	level := uint32(0)
	if _, err := u.s.Set(Write{Session: "s", Level: &level, Payload: []byte("x"), TTL: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c.Advance(4 * time.Second)
	get(t, n, "s", 0) // fetched with 6s left
	c.Advance(5 * time.Second)
	if e, hit := get(t, n, "s", 0); !hit || e.TTL(c.Now()) != time.Second {
		t.Fatalf("hit %v, ttl %v", hit, e.TTL(c.Now()))
	}
	c.Advance(time.Second)
	_, hit, err := n.Get(context.Background(), Key{Session: "s"})
	if hit || !errors.Is(err, ErrNotFound) {
		t.Fatalf("after expiry: hit %v, %v", hit, err)
	}
	u.set(t, "a", 0, 1)
	u.set(t, "b", 0, 1)
	get(t, n, "a", 0)
	get(t, n, "b", 0)
	c.Advance(time.Minute)
	if got := n.RemoveExpired(); got != 2 {
		t.Fatalf("RemoveExpired = %d", got)
	}
	if entries, bytes := n.Stats(); entries != 0 || bytes != 0 {
		t.Fatalf("Stats = %d, %d", entries, bytes)
	}
}

func TestNodeConcurrentColdGets(t *testing.T) {
	n, u, _ := newTestNode(1 << 20)
	u.set(t, "s", 4, 1000)
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if e, _, err := n.Get(context.Background(), Key{Session: "s", Level: 4}); err != nil || len(e.Payload) != 1000 {
				t.Errorf("Get = %d bytes, %v", len(e.Payload), err)
			}
		})
	}
	wg.Wait()
	if calls := u.calls.Load(); calls != 1 {
		t.Fatalf("%d fetches for 200 concurrent cold Gets, want 1", calls)
	}
}

// TestNodeConcurrent mixes gets over more keys than fit, forgets and
// expiry (for -race), then checks the accounting.
func TestNodeConcurrent(t *testing.T) {
	n, u, c := newTestNode(8 * (100 + 2 + Overhead))
	for i := range 16 {
		u.set(t, fmt.Sprint(i%16+10), 0, 100)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				s := fmt.Sprint((g*7+i)%16 + 10)
				switch i % 10 {
				case 8:
					n.Forget(s)
				case 9:
					n.RemoveExpired()
				default:
					if _, _, err := n.Get(context.Background(), Key{Session: s}); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	entries, bytes := n.Stats()
	if entries > 8 || bytes != int64(entries)*(100+2+Overhead) {
		t.Fatalf("Stats = %d, %d", entries, bytes)
	}
	c.Advance(time.Hour)
	if n.RemoveExpired() != entries {
		t.Fatal("RemoveExpired missed entries")
	}
}
