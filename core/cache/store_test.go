package cache

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/internal/servicetest"
)

func lvl(v uint32) *uint32 { return &v }

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func newTestStore(c *servicetest.Clock) *Store {
	return NewStore(StoreConfig{MaxTTL: time.Minute, MaxPayload: 16, Now: c.Now})
}

func TestStoreSetGetUpdateDelete(t *testing.T) {
	c := servicetest.NewClock()
	s := newTestStore(c)

	e, err := s.Set(Write{Session: "s", Payload: []byte("v0")})
	if err != nil || e.Level != 0 || string(e.Payload) != "v0" || e.TTL(c.Now()) != time.Minute {
		t.Fatalf("Set without level = %+v, %v; want level 0, ttl maxTTL", e, err)
	}
	_, err = s.Set(Write{Session: "s", Level: lvl(5), Payload: []byte("x")})
	wantErr(t, err, ErrExists)

	for _, tc := range []struct {
		level *uint32
		want  error
	}{{nil, nil}, {lvl(0), nil}, {lvl(1), ErrLevel}} {
		e, err := s.Get("s", tc.level)
		if !errors.Is(err, tc.want) || (err == nil && string(e.Payload) != "v0") {
			t.Fatalf("Get(%v) = %+v, %v; want %v", tc.level, e, err, tc.want)
		}
	}
	_, err = s.Get("other", nil)
	wantErr(t, err, ErrNotFound)

	e, err = s.Update(Write{Session: "s", Payload: []byte("v1")})
	if err != nil || e.Level != 1 {
		t.Fatalf("Update without level = %+v, %v; want level 1", e, err)
	}
	e, err = s.Update(Write{Session: "s", Level: lvl(7), Payload: []byte("v7"), TTL: time.Second})
	if err != nil || e.Level != 7 || e.TTL(c.Now()) != time.Second {
		t.Fatalf("Update to 7 = %+v, %v", e, err)
	}
	for _, l := range []uint32{7, 3} {
		_, err = s.Update(Write{Session: "s", Level: lvl(l), Payload: []byte("no")})
		wantErr(t, err, ErrLevel)
	}
	_, err = s.Update(Write{Session: "other", Payload: []byte("no")})
	wantErr(t, err, ErrNotFound)
	if e, err := s.Get("s", lvl(7)); err != nil || string(e.Payload) != "v7" {
		t.Fatalf("Get(7) after failed updates = %+v, %v", e, err)
	}

	e, err = s.Delete("s")
	if err != nil || e.Level != 7 {
		t.Fatalf("Delete = %+v, %v", e, err)
	}
	_, err = s.Delete("s")
	wantErr(t, err, ErrNotFound)
	_, err = s.Get("s", nil)
	wantErr(t, err, ErrNotFound)
	if n, b := s.Stats(); n != 0 || b != 0 {
		t.Fatalf("Stats after delete = %d, %d", n, b)
	}
	if _, err := s.Set(Write{Session: "s", Level: lvl(2), Payload: []byte("again")}); err != nil {
		t.Fatalf("Set after Delete: %v", err)
	}
}

func TestStoreLastLevel(t *testing.T) {
	s := newTestStore(servicetest.NewClock())
	if _, err := s.Set(Write{Session: "s", Level: lvl(math.MaxUint32)}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Update(Write{Session: "s"})
	wantErr(t, err, ErrLevel)
}

func TestStoreInvalid(t *testing.T) {
	s := newTestStore(servicetest.NewClock())
	long := strings.Repeat("x", MaxSessionID+1)
	for name, w := range map[string]Write{
		"empty session": {},
		"long session":  {Session: long},
		"big payload":   {Session: "s", Payload: make([]byte, 17)},
		"negative ttl":  {Session: "s", TTL: -time.Second},
	} {
		_, err := s.Set(w)
		wantErr(t, err, ErrInvalid)
		_, err = s.Update(w)
		wantErr(t, err, ErrInvalid)
		if name == "empty session" || name == "long session" {
			_, err = s.Get(w.Session, nil)
			wantErr(t, err, ErrInvalid)
			_, err = s.Delete(w.Session)
			wantErr(t, err, ErrInvalid)
		}
	}
	if _, err := s.Set(Write{Session: strings.Repeat("x", MaxSessionID), Payload: make([]byte, 16)}); err != nil {
		t.Fatalf("limits themselves refused: %v", err)
	}
}

func TestStoreTTL(t *testing.T) {
	c := servicetest.NewClock()
	s := newTestStore(c)
	if e, _ := s.Set(Write{Session: "capped", TTL: time.Hour}); e.TTL(c.Now()) != time.Minute {
		t.Fatalf("ttl not capped: %v", e.TTL(c.Now()))
	}
	if _, err := s.Set(Write{Session: "short", Payload: []byte("abc"), TTL: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c.Advance(9 * time.Second)
	if _, err := s.Get("short", nil); err != nil {
		t.Fatalf("Get before expiry: %v", err)
	}
	// Update resets the TTL; Get does not.
	if _, err := s.Update(Write{Session: "short", Payload: []byte("abcd"), TTL: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c.Advance(9 * time.Second)
	if e, err := s.Get("short", nil); err != nil || e.TTL(c.Now()) != time.Second {
		t.Fatalf("Get after update = %+v, %v", e, err)
	}
	c.Advance(time.Second)
	_, err := s.Get("short", nil)
	wantErr(t, err, ErrNotFound)
	_, err = s.Update(Write{Session: "short"})
	wantErr(t, err, ErrNotFound)
	if n, b := s.Stats(); n != 1 || b != 0 {
		t.Fatalf("Stats = %d, %d: Update of the expired entry should have removed it", n, b)
	}
	if _, err := s.Set(Write{Session: "short", Level: lvl(3)}); err != nil {
		t.Fatalf("Set over an expired entry: %v", err)
	}
	c.Advance(time.Minute)
	_, err = s.Delete("short")
	wantErr(t, err, ErrNotFound)
	if n := s.RemoveExpired(); n != 1 {
		t.Fatalf("RemoveExpired = %d, want 1 (capped)", n)
	}
	if n, b := s.Stats(); n != 0 || b != 0 {
		t.Fatalf("Stats = %d, %d", n, b)
	}
}

// TestStoreCleanup drives the cleanup loop with a tick channel: the second
// tick is taken only once the first one's removal is done.
func TestStoreCleanup(t *testing.T) {
	c := servicetest.NewClock()
	s := newTestStore(c)
	for i, ttl := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		if _, err := s.Set(Write{Session: string(rune('a' + i)), Payload: []byte("p"), TTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var removed []int
	go func() { s.Cleanup(ctx, tick, func(n int) { removed = append(removed, n) }); close(done) }()
	c.Advance(2 * time.Second)
	tick <- time.Time{}
	tick <- time.Time{}
	if n, b := s.Stats(); n != 1 || b != 1 || len(removed) != 1 || removed[0] != 2 {
		t.Fatalf("Stats after cleanup = %d, %d, removed %v; want 1, 1, [2]", n, b, removed)
	}
	cancel()
	<-done
}

// TestStoreConcurrent runs every operation from many goroutines (for -race)
// and checks the byte count against the entries left.
func TestStoreConcurrent(t *testing.T) {
	s := NewStore(StoreConfig{})
	sessions := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				id := sessions[(g+i)%len(sessions)]
				p := make([]byte, i%7)
				switch i % 4 {
				case 0:
					_, _ = s.Set(Write{Session: id, Payload: p})
				case 1:
					_, _ = s.Update(Write{Session: id, Payload: p})
				case 2:
					if e, err := s.Get(id, nil); err == nil && len(e.Payload) > 6 {
						t.Errorf("payload of %d bytes", len(e.Payload))
					}
				case 3:
					if g%2 == 0 {
						_, _ = s.Delete(id)
					}
				}
			}
		})
	}
	wg.Wait()
	var want int64
	n := 0
	for _, id := range sessions {
		if e, err := s.Get(id, nil); err == nil {
			want += int64(len(e.Payload))
			n++
		}
	}
	if gotN, got := s.Stats(); gotN != n || got != want {
		t.Fatalf("Stats = %d, %d; entries say %d, %d", gotN, got, n, want)
	}
}

// MaxBytes bounds what all sessions hold together: a write that would pass
// it is ErrFull, and shrinking or deleting makes room again.
func TestStoreMaxBytes(t *testing.T) {
	s := NewStore(StoreConfig{MaxBytes: 10})
	if _, err := s.Set(Write{Session: "a", Payload: make([]byte, 6)}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Set(Write{Session: "b", Payload: make([]byte, 6)})
	wantErr(t, err, ErrFull)
	_, err = s.Update(Write{Session: "a", Payload: make([]byte, 11)})
	wantErr(t, err, ErrFull)
	if _, err := s.Update(Write{Session: "a", Payload: make([]byte, 4)}); err != nil {
		t.Fatalf("shrinking: %v", err)
	}
	if _, err := s.Set(Write{Session: "b", Payload: make([]byte, 6)}); err != nil {
		t.Fatalf("after shrinking: %v", err)
	}
	if _, err := s.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(Write{Session: "c", Payload: make([]byte, 4)}); err != nil {
		t.Fatalf("after deleting: %v", err)
	}
	if _, bytes := s.Stats(); bytes != 10 {
		t.Fatalf("%d bytes held, want 10", bytes)
	}
}
