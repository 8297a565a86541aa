package session

import (
	"sync/atomic"
	"time"
)

// Counts are a session's task counters since it opened. The session does
// not know how many tasks a batch holds, so the service that does keeps
// them; they are read by the admin API and dashboard.
type Counts struct {
	Accepted, Done, Dead atomic.Int64
}

// stats is what a session keeps for Counts and the other accessors here.
type stats struct {
	counts  Counts
	created time.Time
}

// Counts returns the session's task counters, for the service to add to.
func (s *Session) Counts() *Counts { return &s.stats.counts }

// Created is when the session was opened.
func (s *Session) Created() time.Time { return s.stats.created }

// LastActivity is the time of the last client batch or stream attach.
func (s *Session) LastActivity() time.Time { return time.Unix(0, s.lastActivity.Load()) }

// WorkerInflight calls fn with each leased worker's id and its unanswered
// batches (a worker with two streams on the session is called twice).
func (s *Session) WorkerInflight(fn func(worker string, batches int)) {
	for _, l := range s.leases() {
		fn(l.Worker, l.Inflight())
	}
}

func (s *Session) leases() []*Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Lease, 0, len(s.mu.leases))
	for l := range s.mu.leases {
		out = append(out, l)
	}
	return out
}
