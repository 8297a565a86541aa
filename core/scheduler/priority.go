package scheduler

import "math/bits"

// strictPriority serves the highest priority first: a session gets a
// worker only when no session of higher priority wants one. Within a
// priority the session with the fewest workers goes first, then the older,
// so equal sessions share evenly. Within a priority, sessions below
// min_workers come first: a minimum never goes before a higher priority.
//
// Preemption takes from the lowest priority that has a donor, from the
// donor with the most workers there (the newer one on a tie), as long as
// the wanting session has a higher priority.
type strictPriority struct{ sc *Scheduler }

func newStrictPriority(sc *Scheduler) policy { return strictPriority{sc} }

// update: the Scheduler's want and donor heaps are all this policy reads.
func (strictPriority) update(*session) {}

func (p strictPriority) next() *session {
	m := p.sc.wantMask[0] | p.sc.wantMask[1]
	if m == 0 {
		return nil
	}
	prio := bits.Len16(m) - 1
	if p.sc.wantMask[0]&(1<<prio) != 0 {
		return p.sc.want[0][prio].top()
	}
	return p.sc.want[1][prio].top()
}

func (p strictPriority) victim(s *session) *session {
	m := p.sc.donorMask & (1<<s.prio - 1)
	if m == 0 {
		return nil
	}
	return p.sc.donors[bits.TrailingZeros16(m)].top()
}

var _ policy = strictPriority{}
