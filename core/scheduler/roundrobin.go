package scheduler

// roundRobin deals workers like cards, ignoring priority: the next worker
// goes to the wanting session with the fewest workers (bound and reserved),
// and among those to the one that got a worker least recently, so every
// session with work gets one per round. Sessions below min_workers come
// first, except before a session of higher priority with fewer workers.
//
// Preemption evens out the rounds: a wanting session s takes a worker
// from the donor v of lower priority with the most workers when
// have(v) > have(s)+1, so neither ends ahead of the other by more than the
// dealing would have left them. A session below min_workers takes from that
// donor regardless.
type roundRobin struct {
	sc    *Scheduler
	ready [2]heap // wanting sessions by tier, as in Scheduler.want but across priorities
	clock uint64  // counts grants, to order rrServed
}

func newRoundRobin(sc *Scheduler) policy {
	r := &roundRobin{sc: sc}
	for t := range r.ready {
		r.ready[t] = heap{slot: slotRR, less: rrLess}
	}
	return r
}

func rrLess(a, b *session) bool {
	if ah, bh := a.have(), b.have(); ah != bh {
		return ah < bh
	}
	if a.rrServed != b.rrServed {
		return a.rrServed < b.rrServed
	}
	return a.seq < b.seq
}

func (r *roundRobin) update(s *session) {
	if s.rrTier == s.wantTier {
		if s.rrTier >= 0 {
			r.ready[s.rrTier].fix(s)
		}
		return
	}
	if s.rrTier >= 0 {
		r.ready[s.rrTier].remove(s)
	}
	if s.wantTier >= 0 {
		r.ready[s.wantTier].push(s)
	}
	s.rrTier = s.wantTier
}

func (r *roundRobin) next() *session {
	var s *session
	switch below, rest := r.top(0), r.top(1); {
	case below == nil:
		s = rest
	case rest == nil || below.prio >= rest.prio || below.have() <= rest.have():
		s = below
	default:
		// A minimum does not go before a higher priority with fewer
		// workers.
		s = rest
	}
	if s != nil {
		// The grant that follows calls update, which re-files s.
		r.clock++
		s.rrServed = r.clock
	}
	return s
}

func (r *roundRobin) top(t int) *session {
	if r.ready[t].len() == 0 {
		return nil
	}
	return r.ready[t].top()
}

func (r *roundRobin) victim(s *session) *session {
	v, _ := r.sc.heaviestDonor(s.prio, func(int) int { return 1 })
	if v == nil || s.have() >= s.min && v.have() <= s.have()+1 {
		return nil
	}
	return v
}

var _ policy = (*roundRobin)(nil)
