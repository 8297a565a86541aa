package scheduler

// roundRobin deals workers like cards, ignoring priority: the next worker
// goes to the wanting session with the fewest workers (bound and reserved),
// and among those to the one that got a worker least recently, so every
// session with work gets one per round. Sessions below min_workers come
// before all others, in the same order.
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
	for t := range r.ready {
		if r.ready[t].len() > 0 {
			s := r.ready[t].top()
			// The grant that follows calls update, which re-files s.
			r.clock++
			s.rrServed = r.clock
			return s
		}
	}
	return nil
}

func (r *roundRobin) victim(s *session) *session {
	v, _ := r.sc.heaviestDonor(s.prio, func(int) int { return 1 })
	if v == nil || s.have() >= s.min && v.have() <= s.have()+1 {
		return nil
	}
	return v
}

var _ policy = (*roundRobin)(nil)
