package scheduler

import (
	"fmt"
	"slices"
	"testing"
)

// forEachConfig runs fn under every policy with preemption off and on.
func forEachConfig(t *testing.T, fn func(t *testing.T, h *harness)) {
	for _, name := range Policies() {
		for _, preempt := range []bool{false, true} {
			t.Run(fmt.Sprintf("policy=%s/preempt=%s", name, onOff(preempt)), func(t *testing.T) {
				fn(t, newHarness(t, name, preempt))
			})
		}
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// harness plays the caller: it applies every decision to its own model of
// the workers, fails on a decision the model forbids (a bind of a worker
// that is not idle, an unbind of a worker not bound to that session), and
// checks the model and the scheduler's invariants after every event.
type harness struct {
	t       testing.TB
	sc      *Scheduler
	policy  string
	preempt bool
	model   map[string]modelWorker
	nextW   int
	// unbinding lists workers told Unbind and not yet reported idle, in
	// order.
	unbinding []string
	binds     int
	unbinds   [ReasonDrained + 1]int // by reason
}

type modelWorker struct {
	state   workerState
	session string
}

func newHarness(t testing.TB, policy string, preempt bool) *harness {
	sc, err := New(policy, Options{Preemption: preempt})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, sc: sc, policy: policy, preempt: preempt, model: make(map[string]modelWorker)}
}

func (h *harness) apply(ds []Decision, err error) []Decision {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, d := range ds {
		m, ok := h.model[d.Worker]
		if !ok {
			h.t.Fatalf("%v for unknown worker %s", d.Action, d.Worker)
		}
		s := h.sc.sessions[d.Session]
		switch d.Action {
		case Bind:
			if m.state != stateFree {
				h.t.Fatalf("bind %s to %s: worker is %+v, not idle", d.Worker, d.Session, m)
			}
			if s == nil || s.work.Waiting == 0 || s.idle || d.Reason != ReasonNone {
				h.t.Fatalf("bind %s to %s: session %+v has no pending work", d.Worker, d.Session, s)
			}
			h.model[d.Worker] = modelWorker{state: stateBound, session: d.Session}
			h.binds++
		case Unbind:
			if m.state != stateBound || m.session != d.Session {
				h.t.Fatalf("unbind %s from %s: worker is %+v", d.Worker, d.Session, m)
			}
			if d.Reason == ReasonPreempted && (!h.preempt || !s.preemptible) {
				h.t.Fatalf("preempted %s from %s with preemption %v, preemptible %v", d.Worker, d.Session, h.preempt, s.preemptible)
			}
			if d.Reason == ReasonNone {
				h.t.Fatalf("unbind %s without reason", d.Worker)
			}
			h.model[d.Worker] = modelWorker{state: stateUnbinding}
			h.unbinds[d.Reason]++
			h.unbinding = append(h.unbinding, d.Worker)
		default:
			h.t.Fatalf("bad action in %+v", d)
		}
	}
	h.check()
	return slices.Clone(ds)
}

// check compares the model with the scheduler and checks the invariants.
func (h *harness) check() {
	h.t.Helper()
	checkInvariants(h.t, h.sc)
	if len(h.model) != len(h.sc.workers) {
		h.t.Fatalf("model has %d workers, scheduler %d", len(h.model), len(h.sc.workers))
	}
	for id, m := range h.model {
		w := h.sc.workers[id]
		if w == nil || w.state != m.state || m.state == stateBound && w.sess.id != m.session {
			h.t.Fatalf("worker %s: model %+v, scheduler %+v", id, m, w)
		}
	}
}

func (h *harness) addSession(id string, p SessionParams) {
	h.t.Helper()
	if err := h.sc.AddSession(id, p); err != nil {
		h.t.Fatal(err)
	}
	h.check()
}

// pending reports n waiting tasks and no busy worker.
func (h *harness) pending(id string, n int) []Decision {
	h.t.Helper()
	return h.apply(h.sc.SetWork(id, Work{Waiting: n}))
}

func (h *harness) work(id string, w Work) []Decision {
	h.t.Helper()
	return h.apply(h.sc.SetWork(id, w))
}

func (h *harness) idle(id string, idle bool) []Decision {
	h.t.Helper()
	return h.apply(h.sc.SetIdle(id, idle))
}

func (h *harness) update(id string, p SessionParams) []Decision {
	h.t.Helper()
	return h.apply(h.sc.UpdateSession(id, p))
}

func (h *harness) removeSession(id string) []Decision {
	h.t.Helper()
	return h.apply(h.sc.RemoveSession(id))
}

// addWorkers adds n workers named w0, w1, ... one at a time.
func (h *harness) addWorkers(n int) []Decision {
	h.t.Helper()
	var all []Decision
	for range n {
		id := fmt.Sprintf("w%d", h.nextW)
		h.nextW++
		h.model[id] = modelWorker{state: stateFree}
		all = append(all, h.apply(h.sc.AddWorker(id))...)
	}
	return all
}

func (h *harness) removeWorker(id string) []Decision {
	h.t.Helper()
	delete(h.model, id)
	return h.apply(h.sc.RemoveWorker(id))
}

func (h *harness) workerIdle(id string) []Decision {
	h.t.Helper()
	h.model[id] = modelWorker{state: stateFree}
	return h.apply(h.sc.WorkerIdle(id))
}

func (h *harness) workerDraining(id string) []Decision {
	h.t.Helper()
	if m := h.model[id]; m.state == stateFree || m.state == stateBound {
		h.model[id] = modelWorker{state: stateDraining}
	}
	return h.apply(h.sc.WorkerDraining(id))
}

// finishUnbinds reports every worker told Unbind as idle, in order.
func (h *harness) finishUnbinds() []Decision {
	h.t.Helper()
	var all []Decision
	for len(h.unbinding) > 0 {
		id := h.unbinding[0]
		h.unbinding = h.unbinding[1:]
		if m, ok := h.model[id]; ok && m.state == stateUnbinding {
			all = append(all, h.workerIdle(id)...)
		}
	}
	return all
}

// have is the number of workers a session holds or has been promised.
func (h *harness) have(id string) int { return h.sc.sessions[id].have() }

func (h *harness) bound(id string) int { return len(h.sc.sessions[id].bound) }

// count counts the decisions with the given action and reason.
func count(ds []Decision, a Action, r Reason) int {
	n := 0
	for _, d := range ds {
		if d.Action == a && d.Reason == r {
			n++
		}
	}
	return n
}

// checkInvariants checks the scheduler's bookkeeping and the rules of
// doc.go that hold between events. It recomputes what it checks by linear
// scans, independently of the heaps and policies it checks.
func checkInvariants(tb testing.TB, sc *Scheduler) {
	tb.Helper()
	fail := func(format string, args ...any) {
		tb.Helper()
		tb.Fatalf("invariant: "+format, args...)
	}

	var counts [numStates]int
	for id, w := range sc.workers {
		counts[w.state]++
		var l wlist
		switch {
		case w.id != id:
			fail("worker %s filed as %s", w.id, id)
		case w.state == stateFree && w.sess == nil:
			l = sc.free
		case w.state == stateBound && w.sess != nil:
			l = w.sess.bound
		case w.state == stateUnbinding && w.sess != nil:
			l = w.sess.incoming
		case w.state == stateUnbinding:
			l = sc.transit
		case w.state == stateDraining && w.sess == nil:
			continue
		default:
			fail("worker %s in state %d with session %v", id, w.state, w.sess)
		}
		if w.sess != nil && sc.sessions[w.sess.id] != w.sess {
			fail("worker %s refers to removed session %s", id, w.sess.id)
		}
		if w.pos >= len(l) || l[w.pos] != w {
			fail("worker %s (state %d) not at its position %d", id, w.state, w.pos)
		}
	}
	if counts != sc.counts {
		fail("counts %v, recomputed %v", sc.counts, counts)
	}
	bound, unbinding := 0, len(sc.transit)

	var wantHeaps, donorHeaps int
	wanting := false
	var heaviest [levels]*session // donor with the most workers, per priority
	for id, s := range sc.sessions {
		bound += len(s.bound)
		unbinding += len(s.incoming)
		have, target := s.have(), s.target()
		switch {
		case s.id != id || s.removed:
			fail("session %s filed as %s, removed %v", s.id, id, s.removed)
		case len(s.bound) > s.max:
			fail("session %s has %d workers, max_workers %d", id, len(s.bound), s.max)
		case s.idle && have > 0:
			fail("idle session %s holds %d workers", id, have)
		case len(s.incoming) > 0 && have > target:
			fail("session %s has %d reserved workers beyond its target %d (have %d)", id, len(s.incoming), target, have)
		}
		tier := -1
		if have < target {
			tier = 1
			if have < s.min {
				tier = 0
			}
			wanting = true
		}
		if s.wantTier != tier || tier >= 0 && (s.wantPrio != s.prio || sc.want[tier][s.prio].s[s.hidx[slotWant]] != s) {
			fail("session %s should be in want heap %d/%d, is in %d/%d", id, tier, s.prio, s.wantTier, s.wantPrio)
		}
		if tier >= 0 {
			wantHeaps++
		}
		donor := -1
		if s.preemptible && len(s.bound) > s.min {
			donor = s.prio
			donorHeaps++
			if v := heaviest[s.prio]; v == nil || have > v.have() {
				heaviest[s.prio] = s
			}
		}
		if s.donorPrio != donor || donor >= 0 && sc.donors[donor].s[s.hidx[slotDonor]] != s {
			fail("session %s should be in donor heap %d, is in %d", id, donor, s.donorPrio)
		}
	}
	if bound != counts[stateBound] || unbinding != counts[stateUnbinding] || len(sc.free) != counts[stateFree] {
		fail("lists hold %d bound, %d unbinding, %d free; counts %v", bound, unbinding, len(sc.free), counts)
	}

	n := 0
	for t := range sc.want {
		for p := range sc.want[t] {
			n += checkHeap(tb, &sc.want[t][p])
			if (sc.want[t][p].len() > 0) != (sc.wantMask[t]&(1<<p) != 0) {
				fail("want mask %d bit %d wrong", t, p)
			}
		}
	}
	if n != wantHeaps {
		fail("want heaps hold %d sessions, %d want", n, wantHeaps)
	}
	n = 0
	for p := range sc.donors {
		n += checkHeap(tb, &sc.donors[p])
		if (sc.donors[p].len() > 0) != (sc.donorMask&(1<<p) != 0) {
			fail("donor mask bit %d wrong", p)
		}
	}
	if n != donorHeaps {
		fail("donor heaps hold %d sessions, %d are donors", n, donorHeaps)
	}
	if rr, ok := sc.pol.(*roundRobin); ok {
		n = checkHeap(tb, &rr.ready[0]) + checkHeap(tb, &rr.ready[1])
		for id, s := range sc.sessions {
			if s.rrTier != s.wantTier || s.rrTier >= 0 && rr.ready[s.rrTier].s[s.hidx[slotRR]] != s {
				fail("roundrobin: session %s in tier %d, wants tier %d", id, s.rrTier, s.wantTier)
			}
		}
		if n != wantHeaps {
			fail("roundrobin heaps hold %d sessions, %d want", n, wantHeaps)
		}
	}

	spent := 0
	for id, s := range sc.sessions {
		if s.spent() != (s.spentPos >= 0) || s.spentPos >= 0 && (s.spentPos >= len(sc.spent) || sc.spent[s.spentPos] != s) {
			fail("session %s spent %v, filed at %d", id, s.spent(), s.spentPos)
		}
		if s.spent() {
			spent++
		}
	}
	if spent != len(sc.spent) {
		fail("spent list holds %d sessions, %d are spent", len(sc.spent), spent)
	}

	// Settled: nothing is left to hand out while a session wants workers,
	// and no session with no work holds one while another has none.
	if wanting && len(sc.free)+len(sc.transit) > 0 {
		fail("%d free and %d unreserved unbinding workers while sessions want workers", len(sc.free), len(sc.transit))
	}
	starving := false
	for _, s := range sc.sessions {
		starving = starving || s.have() == 0 && s.target() > 0
	}
	if starving && len(sc.spent) > 0 {
		fail("%d spent sessions hold workers while a session that wants some has none", len(sc.spent))
	}
	if !sc.preempt {
		return
	}
	// Settled: no wanting session may preempt. Within one priority every
	// donor has the same weight, so the heaviest is the easiest victim.
	for id, s := range sc.sessions {
		if s.have() >= s.target() {
			continue
		}
		for q := range s.prio {
			if v := heaviest[q]; v != nil && mayPreempt(sc.pol, s, v) {
				fail("session %s (prio %d, have %d, min %d) may still preempt %s (prio %d, have %d)",
					id, s.prio, s.have(), s.min, v.id, v.prio, v.have())
			}
		}
	}
}

// mayPreempt restates each policy's preemption rule for a donor v of lower
// priority than the wanting session s.
func mayPreempt(pol policy, s, v *session) bool {
	if s.have() < s.min {
		return true
	}
	switch pol.(type) {
	case fairShare:
		return v.have()*(s.prio+1) > (s.have()+1)*(v.prio+1)
	case *roundRobin:
		return v.have() > s.have()+1
	}
	return true
}

// checkHeap checks the heap order and positions and returns the size.
func checkHeap(tb testing.TB, h *heap) int {
	tb.Helper()
	for i, s := range h.s {
		if s.hidx[h.slot] != i {
			tb.Fatalf("invariant: heap slot %d: session %s at %d thinks %d", h.slot, s.id, i, s.hidx[h.slot])
		}
		if i > 0 && h.less(s, h.s[(i-1)/2]) {
			tb.Fatalf("invariant: heap slot %d out of order at %d", h.slot, i)
		}
	}
	return len(h.s)
}
