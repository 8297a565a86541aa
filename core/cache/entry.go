package cache

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by Store and Node; services map them to status codes.
var (
	// ErrInvalid: an empty or overlong session id, a payload over
	// MaxPayload, a negative TTL.
	ErrInvalid = errors.New("cache: invalid argument")
	// ErrNotFound: no live entry for the session.
	ErrNotFound = errors.New("cache: not found")
	// ErrExists: Set on a session with a live entry.
	ErrExists = errors.New("cache: already exists")
	// ErrLevel: Get of a level that is not the stored one, or Update to a
	// level that is not above it.
	ErrLevel = errors.New("cache: update level mismatch")
	// ErrFull is returned by a write that would take the store past its
	// MaxBytes.
	ErrFull = errors.New("cache: full")
	// ErrNotOwner is returned by an Update or Delete of an entry that
	// another tenant set.
	ErrNotOwner = errors.New("cache: entry of another tenant")
)

// MaxSessionID is the longest session id accepted, in bytes. Session ids
// are ULIDs or short names; the bound keeps a request's framing small next
// to its payload.
const MaxSessionID = 1024

// Overhead is what a Node counts for an entry besides its payload and
// session id, so that many empty payloads still fill its capacity.
const Overhead = 64

// Entry is a session's shared data at one update level.
type Entry struct {
	Level uint32
	// Payload is shared by every reader and never modified.
	Payload []byte
	// Expires is when the entry stops being served.
	Expires time.Time
}

// TTL is the time left before e expires, at least 0.
func (e Entry) TTL(now time.Time) time.Duration { return max(e.Expires.Sub(now), 0) }

// Key names a Node's entry: a session's data at Level, or its newest level
// when Newest is set (Level is then ignored).
type Key struct {
	Session string
	Level   uint32
	Newest  bool
}

// ValidSession returns an ErrInvalid error unless id is a usable session id.
func ValidSession(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty session id", ErrInvalid)
	case len(id) > MaxSessionID:
		return fmt.Errorf("%w: session id of %d bytes, the limit is %d", ErrInvalid, len(id), MaxSessionID)
	}
	return nil
}
