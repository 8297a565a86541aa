package scheduler

import "math/bits"

// fairShare shares workers in proportion to weight = priority+1, so that
// priority 0 still gets a share, by the D'Hondt highest-averages rule: the
// next worker goes to the wanting session with the smallest (have+1)/weight,
// where have counts its bound and reserved workers; ties go to the higher
// priority, then to the older session. Sessions stop competing at their
// target (pending batches, min_workers, max_workers), and what they leave
// goes to the others. Sessions below min_workers come before the sessions
// of their priority and lower ones; against a higher priority they take
// their D'Hondt turn, so a minimum never starves a higher priority.
//
// Preemption restores the proportion: a wanting session s takes a worker
// from the donor v of lower priority with the largest have/weight when
// have(v)/weight(v) > (have(s)+1)/weight(s), that is when v would still have
// been served before s. A session below min_workers takes from that donor
// regardless of the proportion. 12 workers between priorities 10 and 0
// thus end 11 to 1.
type fairShare struct{ sc *Scheduler }

func newFairShare(sc *Scheduler) policy { return fairShare{sc} }

func fairWeight(prio int) int { return prio + 1 }

// update: the Scheduler's want and donor heaps are all this policy reads.
func (fairShare) update(*session) {}

func (f fairShare) next() *session {
	below, bw := f.best(0)
	rest, rw := f.best(1)
	switch {
	case below == nil:
		return rest
	case rest == nil || below.prio >= rest.prio:
		return below
	case (rest.have()+1)*bw <= (below.have()+1)*rw:
		return rest // a minimum does not go before a higher priority's share
	}
	return below
}

// best returns the wanting session of tier t with the smallest
// (have+1)/weight, and its weight. Each want heap's top has the fewest
// workers of its priority, so the minimum over the tops is the minimum
// over all.
func (f fairShare) best(t int) (*session, int) {
	var best *session
	bw := 0
	for m := f.sc.wantMask[t]; m != 0; {
		p := bits.Len16(m) - 1
		m &^= 1 << p
		s, w := f.sc.want[t][p].top(), fairWeight(p)
		if best == nil || (s.have()+1)*bw < (best.have()+1)*w {
			best, bw = s, w
		}
	}
	return best, bw
}

func (f fairShare) victim(s *session) *session {
	v, vw := f.sc.heaviestDonor(s.prio, fairWeight)
	if v == nil || s.have() >= s.min && v.have()*fairWeight(s.prio) <= (s.have()+1)*vw {
		return nil
	}
	return v
}

var _ policy = fairShare{}
