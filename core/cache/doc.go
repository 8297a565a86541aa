// Package cache holds the shared data of sessions (docs/design.md, Shared
// data), free of any wire format: the authoritative Store of the central
// cache, and the Node, a byte-bounded LRU with single-flight loading, of the
// node caches.
//
// An Entry is a session's payload at one update level, valid until it
// expires. Its Payload is shared by every reader and never modified once
// stored: a Set or Update stores a new slice, so readers may hand the
// slice on (to a gRPC response, say) without copying it.
//
// Store semantics, by operation:
//
//	Set     creates the entry; ErrExists if the session has a live one.
//	        The level is the one given, 0 when unset.
//	Update  replaces the payload of a live entry (ErrNotFound otherwise).
//	        The level given must be above the stored one, and unset means
//	        stored + 1 (ErrLevel otherwise). Resets the TTL.
//	Get     the entry at exactly the level asked for, or the stored one
//	        when unset; ErrNotFound if absent or expired, ErrLevel if the
//	        stored level differs. Does not touch the TTL.
//	Delete  removes the entry; ErrNotFound if absent or expired.
//
// A TTL of 0 means the store's MaxTTL, larger ones are capped at it, and
// negative ones are ErrInvalid, as are an empty or overlong session id and
// a payload over MaxPayload. An entry expires when its TTL has passed:
// from then on it is absent for every operation, and RemoveExpired (run
// every cleanupInterval by Cleanup) frees it.
//
// A Node keeps entries by (session, level) and loads the ones it lacks
// through its Fetch function, once per key however many callers miss it at
// the same time (see Group). It keeps an entry for the TTL its upstream
// reported and evicts the least recently used entries to stay within its
// capacity in bytes, where an entry weighs its payload, its session id and
// Overhead.
package cache
