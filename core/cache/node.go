package cache

import (
	"context"
	"sync"
	"time"
)

// DefaultCapacity is a node cache's default cacheSize (1 GB).
const DefaultCapacity = 1_000_000_000

// NodeConfig configures a Node.
type NodeConfig struct {
	// Capacity bounds the bytes held (see Overhead); 0 keeps nothing, so
	// that every Get is a fetch.
	Capacity int64
	// Fetch loads an entry from upstream: key.Level, or the newest level
	// when key.Newest. Its Entry.Expires says how long the Node may keep
	// it. It is called by one goroutine per key at a time.
	Fetch func(ctx context.Context, key Key) (Entry, error)
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Node is a node cache's store: entries by (session, level) in a
// byte-bounded LRU, loaded through Fetch on a miss, one fetch per key at a
// time. It is safe for concurrent use. Lock order: the flights' lock, then
// mu (Get's second lookup runs under the former).
type Node struct {
	cfg     NodeConfig
	flights Group[Key, Entry]
	mu      struct {
		sync.Mutex
		lru *lru
	}
}

// NewNode returns an empty node cache.
func NewNode(cfg NodeConfig) *Node {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	n := &Node{cfg: cfg}
	n.mu.lru = newLRU(cfg.Capacity)
	return n
}

// Get returns key's entry, from memory when it holds it (hit), else from
// Fetch. A Newest key always fetches: only upstream knows the newest
// level. The fetched entry is kept under its level. Fetch's errors are
// returned as they are, and nothing is kept for them.
func (n *Node) Get(ctx context.Context, key Key) (e Entry, hit bool, err error) {
	if key.Newest {
		key.Level = 0
		e, _, err = n.flights.Do(ctx, key, nil, n.loader(key))
		return e, false, err
	}
	if e, ok := n.lookup(key); ok {
		return e, true, nil
	}
	return n.flights.Do(ctx, key, func() (Entry, bool) { return n.lookup(key) }, n.loader(key))
}

func (n *Node) lookup(key Key) (Entry, bool) {
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.lru.get(key, now)
}

func (n *Node) loader(key Key) func(context.Context) (Entry, error) {
	return func(ctx context.Context) (Entry, error) {
		e, err := n.cfg.Fetch(ctx, key)
		if err != nil {
			return Entry{}, err
		}
		now := n.cfg.Now()
		n.mu.Lock()
		n.mu.lru.add(Key{Session: key.Session, Level: e.Level}, e, now)
		n.mu.Unlock()
		return e, nil
	}
}

// Forget drops every level of session held, after a write through this
// node made them stale. It scans every entry.
func (n *Node) Forget(session string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.lru.forget(session)
}

// RemoveExpired frees the entries whose TTL has passed and returns how many
// it removed.
func (n *Node) RemoveExpired() int {
	now := n.cfg.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.lru.removeExpired(now)
}

// Cleanup calls RemoveExpired on every tick until ctx ends, and removed
// (when not nil) with the count of every tick that removed entries.
func (n *Node) Cleanup(ctx context.Context, tick <-chan time.Time, removed func(int)) {
	cleanup(ctx, tick, n.RemoveExpired, removed)
}

// Stats returns the number of entries held and their weight in bytes, as
// counted against Capacity.
func (n *Node) Stats() (entries int, bytes int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.mu.lru.m), n.mu.lru.size
}
