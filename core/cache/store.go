package cache

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Defaults of docs/design.md, Shared data.
const (
	DefaultMaxTTL          = 600 * time.Second
	DefaultMaxPayload      = 64 << 20
	DefaultCleanupInterval = time.Second
)

// StoreConfig configures a Store. Zero fields take the defaults.
type StoreConfig struct {
	// MaxTTL caps every entry's TTL and is the TTL of writes without one.
	MaxTTL time.Duration
	// MaxPayload is the largest payload accepted, in bytes.
	MaxPayload int
	// MaxBytes bounds the payload bytes held in all (0: unbounded); a
	// write past it is ErrFull, so that no client can fill the memory of
	// a cache that others share.
	MaxBytes int64
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Write is a Set or Update.
type Write struct {
	Session string
	// Level is the update level to store; nil: 0 for Set, stored + 1 for
	// Update.
	Level *uint32
	// Payload belongs to the store from now on and must not be modified.
	Payload []byte
	// TTL is how long the entry lives: 0 means MaxTTL, more than MaxTTL is
	// capped, negative is ErrInvalid.
	TTL time.Duration
	// Owner is the writer's tenant: Set records it, and an entry with an
	// owner takes Update and Delete from that tenant only (ErrNotOwner).
	// "" for writers without a tenant.
	Owner string
}

// Store is the central cache's authoritative map from session to Entry.
// It is safe for concurrent use.
type Store struct {
	cfg StoreConfig
	mu  struct {
		sync.RWMutex
		m     map[string]*item
		exp   expiryHeap
		bytes int64
	}
}

// NewStore returns an empty store.
func NewStore(cfg StoreConfig) *Store {
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Store{cfg: cfg}
	s.mu.m = make(map[string]*item)
	return s
}

// Validate returns an ErrInvalid error for an empty or overlong session
// id, a payload over maxPayload bytes or a negative TTL.
func (w Write) Validate(maxPayload int) error {
	if err := ValidSession(w.Session); err != nil {
		return err
	}
	if len(w.Payload) > maxPayload {
		return fmt.Errorf("%w: payload of %d bytes exceeds maxPayload %d", ErrInvalid, len(w.Payload), maxPayload)
	}
	if w.TTL < 0 {
		return fmt.Errorf("%w: negative ttl %v", ErrInvalid, w.TTL)
	}
	return nil
}

// check validates w and returns the TTL to give it.
func (s *Store) check(w Write) (time.Duration, error) {
	if err := w.Validate(s.cfg.MaxPayload); err != nil {
		return 0, err
	}
	if w.TTL == 0 || w.TTL > s.cfg.MaxTTL {
		return s.cfg.MaxTTL, nil
	}
	return w.TTL, nil
}

// liveLocked returns the session's entry unless it is absent or expired;
// an expired one is removed.
func (s *Store) liveLocked(session string, now time.Time) *item {
	it := s.mu.m[session]
	if it != nil && !now.Before(it.e.Expires) {
		s.removeLocked(it)
		return nil
	}
	return it
}

// roomLocked reports ErrFull when growing the store by n bytes would take
// it past MaxBytes.
func (s *Store) roomLocked(n int64) error {
	if s.cfg.MaxBytes > 0 && n > 0 && s.mu.bytes+n > s.cfg.MaxBytes {
		return fmt.Errorf("%w: %d bytes held, %d more would pass maxBytes %d", ErrFull, s.mu.bytes, n, s.cfg.MaxBytes)
	}
	return nil
}

func (s *Store) removeLocked(it *item) {
	heap.Remove(&s.mu.exp, it.index)
	delete(s.mu.m, it.key.Session)
	s.mu.bytes -= it.size
}

// Set creates the session's entry; see the package doc.
func (s *Store) Set(w Write) (Entry, error) {
	ttl, err := s.check(w)
	if err != nil {
		return Entry{}, err
	}
	var level uint32
	if w.Level != nil {
		level = *w.Level
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.liveLocked(w.Session, now); it != nil {
		return Entry{}, fmt.Errorf("%w: session %q has shared data at level %d", ErrExists, w.Session, it.e.Level)
	}
	if err := s.roomLocked(int64(len(w.Payload))); err != nil {
		return Entry{}, err
	}
	it := &item{key: Key{Session: w.Session}, e: Entry{Level: level, Payload: w.Payload, Expires: now.Add(ttl)}, size: int64(len(w.Payload)), owner: w.Owner}
	s.mu.m[w.Session] = it
	heap.Push(&s.mu.exp, it)
	s.mu.bytes += it.size
	return it.e, nil
}

// Update replaces the session's payload at a higher level and resets its
// TTL; see the package doc.
func (s *Store) Update(w Write) (Entry, error) {
	ttl, err := s.check(w)
	if err != nil {
		return Entry{}, err
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.liveLocked(w.Session, now)
	if it == nil {
		return Entry{}, fmt.Errorf("%w: session %q has no shared data", ErrNotFound, w.Session)
	}
	if err := it.ownedBy(w.Owner); err != nil {
		return Entry{}, err
	}
	stored := it.e.Level
	var level uint32
	switch {
	case w.Level == nil && stored == math.MaxUint32:
		return Entry{}, fmt.Errorf("%w: session %q is at the last level %d", ErrLevel, w.Session, stored)
	case w.Level == nil:
		level = stored + 1
	case *w.Level <= stored:
		return Entry{}, fmt.Errorf("%w: level %d is not above the stored level %d of session %q", ErrLevel, *w.Level, stored, w.Session)
	default:
		level = *w.Level
	}
	if err := s.roomLocked(int64(len(w.Payload)) - it.size); err != nil {
		return Entry{}, err
	}
	s.mu.bytes += int64(len(w.Payload)) - it.size
	it.size = int64(len(w.Payload))
	it.e = Entry{Level: level, Payload: w.Payload, Expires: now.Add(ttl)}
	heap.Fix(&s.mu.exp, it.index)
	return it.e, nil
}

// Get returns the session's entry at level, or at the stored level when
// level is nil; see the package doc.
func (s *Store) Get(session string, level *uint32) (Entry, error) {
	if err := ValidSession(session); err != nil {
		return Entry{}, err
	}
	now := s.cfg.Now()
	s.mu.RLock()
	it := s.mu.m[session]
	var e Entry
	if it != nil {
		e = it.e
	}
	s.mu.RUnlock()
	switch {
	case it == nil || !now.Before(e.Expires):
		return Entry{}, fmt.Errorf("%w: session %q has no shared data", ErrNotFound, session)
	case level != nil && *level != e.Level:
		return Entry{}, fmt.Errorf("%w: session %q holds level %d, not %d", ErrLevel, session, e.Level, *level)
	}
	return e, nil
}

// Delete removes the session's entry and returns it; see the package doc.
func (s *Store) Delete(session string) (Entry, error) { return s.DeleteAs(session, "") }

// DeleteAs is Delete by a writer of tenant owner (see Write.Owner).
func (s *Store) DeleteAs(session, owner string) (Entry, error) {
	if err := ValidSession(session); err != nil {
		return Entry{}, err
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.liveLocked(session, now)
	if it == nil {
		return Entry{}, fmt.Errorf("%w: session %q has no shared data", ErrNotFound, session)
	}
	if err := it.ownedBy(owner); err != nil {
		return Entry{}, err
	}
	s.removeLocked(it)
	return it.e, nil
}

// RemoveExpired frees the entries whose TTL has passed and returns how many
// it removed.
func (s *Store) RemoveExpired() int {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for len(s.mu.exp) > 0 && !now.Before(s.mu.exp[0].e.Expires) {
		s.removeLocked(s.mu.exp[0])
		n++
	}
	return n
}

// Cleanup calls RemoveExpired on every tick until ctx ends, and removed
// (when not nil) with the count of every tick that removed entries; the
// central cache ticks every cleanupInterval.
func (s *Store) Cleanup(ctx context.Context, tick <-chan time.Time, removed func(int)) {
	cleanup(ctx, tick, s.RemoveExpired, removed)
}

// Stats returns the number of entries held and the bytes of their
// payloads, expired ones not yet removed included.
func (s *Store) Stats() (entries int, bytes int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.mu.m), s.mu.bytes
}

func cleanup(ctx context.Context, tick <-chan time.Time, remove func() int, removed func(int)) {
	for {
		select {
		case <-tick:
			if n := remove(); n > 0 && removed != nil {
				removed(n)
			}
		case <-ctx.Done():
			return
		}
	}
}
