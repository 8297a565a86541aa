package scheduler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

type P = SessionParams

func TestPolicies(t *testing.T) {
	if got, want := Policies(), []string{"fairshare", "priority", "roundrobin"}; !slices.Equal(got, want) {
		t.Fatalf("Policies() = %v, want %v", got, want)
	}
	if _, err := New(DefaultPolicy, Options{}); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	if _, err := New("lottery", Options{}); !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("New(lottery) = %v, want ErrUnknownPolicy", err)
	}
}

func TestErrors(t *testing.T) {
	sc, err := New(PolicyPriority, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.AddSession("s", P{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.AddWorker("w"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"duplicate session", sc.AddSession("s", P{}), ErrSessionExists},
		{"priority above 10", sc.AddSession("x", P{Priority: 11}), ErrInvalid},
		{"negative priority", sc.AddSession("x", P{Priority: -1}), ErrInvalid},
		{"negative min", sc.AddSession("x", P{MinWorkers: -1}), ErrInvalid},
		{"max below min", sc.AddSession("x", P{MinWorkers: 2, MaxWorkers: 1, HasMax: true}), ErrInvalid},
		{"update max below min", second(sc.UpdateSession("s", P{MinWorkers: 2, HasMax: true})), ErrInvalid},
		{"update unknown", second(sc.UpdateSession("x", P{})), ErrUnknownSession},
		{"remove unknown", second(sc.RemoveSession("x")), ErrUnknownSession},
		{"work unknown", second(sc.SetWork("x", Work{Waiting: 1})), ErrUnknownSession},
		{"negative waiting", second(sc.SetWork("s", Work{Waiting: -1})), ErrInvalid},
		{"negative busy", second(sc.SetWork("s", Work{Busy: -1})), ErrInvalid},
		{"idle unknown", second(sc.SetIdle("x", true)), ErrUnknownSession},
		{"duplicate worker", second(sc.AddWorker("w")), ErrWorkerExists},
		{"remove unknown worker", second(sc.RemoveWorker("x")), ErrUnknownWorker},
		{"idle unknown worker", second(sc.WorkerIdle("x")), ErrUnknownWorker},
		{"draining unknown worker", second(sc.WorkerDraining("x")), ErrUnknownWorker},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if s := sc.Stats(); s != (Stats{Sessions: 1, Idle: 1}) {
		t.Fatalf("failed calls changed the state: %+v", s)
	}
	checkInvariants(t, sc)
}

func second(_ []Decision, err error) error { return err }

// Rule: never bind a worker to a session without waiting tasks; a session
// whose waiting work ran out keeps the workers that still run its tasks.
func TestNoBindWithoutPending(t *testing.T) {
	forEachConfig(t, func(t *testing.T, h *harness) {
		h.addSession("a", P{MinWorkers: 2})
		h.addSession("b", P{Priority: 10, Preemptible: true})
		if ds := h.addWorkers(3); len(ds) != 0 {
			t.Fatalf("binds without pending work: %v", ds)
		}
		if ds := h.pending("a", 1); count(ds, Bind, ReasonNone) != 2 || h.bound("a") != 2 {
			t.Fatalf("one pending batch and min_workers 2: %v", ds)
		}
		if ds := h.work("a", Work{Busy: 2}); len(ds) != 0 || h.bound("a") != 2 {
			t.Fatalf("pending work ran out: %v, bound %d", ds, h.bound("a"))
		}
		if ds := h.addWorkers(1); len(ds) != 0 {
			t.Fatalf("bound a new worker without pending work: %v", ds)
		}
		if ds := h.pending("b", 3); count(ds, Bind, ReasonNone) != 2 {
			t.Fatalf("b: want the 2 free workers, got %v", ds)
		}
	})
}

// Rule: demand counts work waiting anywhere. Tasks sitting unstarted in
// the windows of a session's busy workers ask for more workers, although
// nothing is queued.
func TestDemandCountsInflightWork(t *testing.T) {
	forEachConfig(t, func(t *testing.T, h *harness) {
		h.addSession("a", P{})
		h.addWorkers(10)
		if ds := h.pending("a", 2); count(ds, Bind, ReasonNone) != 2 {
			t.Fatalf("two queued tasks: %v", ds)
		}
		// Both workers took a batch of 4: 2 tasks run, 6 wait in their
		// windows and none in the queue.
		if ds := h.work("a", Work{Waiting: 6, Busy: 2}); count(ds, Bind, ReasonNone) != 6 || h.bound("a") != 8 {
			t.Fatalf("6 unstarted tasks on 2 busy workers: %v, bound %d", ds, h.bound("a"))
		}
		if ds := h.work("a", Work{Waiting: 0, Busy: 8}); len(ds) != 0 || h.bound("a") != 8 {
			t.Fatalf("every task started: %v, bound %d", ds, h.bound("a"))
		}
	})
}

// Rule: a session with no work at all gives its workers up while a session
// that wants some has none, in any policy and priority order; it asks
// again with new work.
func TestSpentSessionHandsWorkersOver(t *testing.T) {
	forEachConfig(t, func(t *testing.T, h *harness) {
		h.addSession("hi", P{Priority: 9})
		h.addSession("lo", P{Priority: 1})
		h.addWorkers(3)
		h.pending("hi", 3)
		if ds := h.work("hi", Work{Busy: 1}); len(ds) != 0 {
			t.Fatalf("hi still busy: %v", ds)
		}
		if ds := h.pending("lo", 5); len(ds) != 0 || h.have("lo") != 0 {
			t.Fatalf("lo took workers from a busy session: %v", ds)
		}
		ds := h.work("hi", Work{})
		if n := count(ds, Unbind, ReasonDrained); n != 3 || h.have("lo") != 3 {
			t.Fatalf("hi drained: %d drained unbinds (%v), lo has %d", n, ds, h.have("lo"))
		}
		h.finishUnbinds()
		if h.bound("lo") != 3 || h.bound("hi") != 0 {
			t.Fatalf("after the unbinds: lo %d, hi %d", h.bound("lo"), h.bound("hi"))
		}
	})
}

// Rule: max_workers is hard, also when lowered and when preempting.
func TestMaxWorkers(t *testing.T) {
	forEachConfig(t, func(t *testing.T, h *harness) {
		h.addSession("a", P{MaxWorkers: 3, HasMax: true})
		h.addSession("z", P{MaxWorkers: 0, HasMax: true})
		h.addWorkers(10)
		h.pending("z", 10)
		if h.pending("a", 100); h.bound("a") != 3 || h.bound("z") != 0 {
			t.Fatalf("bound a=%d z=%d, want 3 and 0", h.bound("a"), h.bound("z"))
		}
		ds := h.update("a", P{MaxWorkers: 1, HasMax: true})
		if count(ds, Unbind, ReasonMaxWorkers) != 2 || h.bound("a") != 1 {
			t.Fatalf("lowering max to 1: %v", ds)
		}
		if ds := h.finishUnbinds(); len(ds) != 0 {
			t.Fatalf("unbound workers went back: %v", ds)
		}
		if ds := h.update("a", P{MaxWorkers: 5, HasMax: true}); count(ds, Bind, ReasonNone) != 4 {
			t.Fatalf("raising max to 5: %v", ds)
		}

		// A preempting session stops at its max too.
		h.addSession("hi", P{Priority: 10, MaxWorkers: 2, HasMax: true})
		h.update("a", P{Preemptible: true})
		h.pending("a", 100)
		h.pending("hi", 100)
		want := 0
		if h.preempt {
			want = 2
		}
		if got := h.have("hi"); got != want {
			t.Fatalf("hi holds %d, want %d", got, want)
		}
	})
}

// Rule: min_workers are reserved for a session while it has work: sessions
// below their min get workers before all others, whatever their priority,
// and preemption never takes a session below its min.
func TestMinWorkers(t *testing.T) {
	forEachConfig(t, func(t *testing.T, h *harness) {
		h.addSession("hi", P{Priority: 10})
		h.addSession("lo", P{MinWorkers: 2})
		h.addSession("idle", P{MinWorkers: 5})
		h.pending("hi", 100)
		h.pending("lo", 100)
		h.addWorkers(4)
		if h.bound("lo") != 2 || h.bound("hi") != 2 || h.bound("idle") != 0 {
			t.Fatalf("bound lo=%d hi=%d idle=%d, want 2 2 0", h.bound("lo"), h.bound("hi"), h.bound("idle"))
		}

		// A session below its min preempts whatever the policy's share, but
		// never below the victim's min.
		h2 := newHarness(t, h.policy, h.preempt)
		h2.addSession("victim", P{MinWorkers: 2, Preemptible: true})
		h2.pending("victim", 100)
		h2.addWorkers(4)
		h2.addSession("top", P{Priority: 10, MinWorkers: 6})
		ds := h2.pending("top", 100)
		if n := count(ds, Unbind, ReasonPreempted); h.preempt && n != 2 || !h.preempt && n != 0 || h2.bound("victim") != 4-n {
			t.Fatalf("preempted %d, victim keeps %d: %v", n, h2.bound("victim"), ds)
		}
	})
}

// Rule: higher priority first, in the proportion each policy defines.
func TestShares(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sessions []P
		pending  []int
		workers  int
		want     map[string][]int // policy -> workers per session
	}{
		{
			name:     "two levels",
			sessions: []P{{Priority: 10}, {Priority: 0}},
			pending:  []int{100, 100},
			workers:  12,
			want:     map[string][]int{"priority": {12, 0}, "fairshare": {11, 1}, "roundrobin": {6, 6}},
		},
		{
			name:     "equal priority",
			sessions: []P{{Priority: 5}, {Priority: 5}},
			pending:  []int{100, 100},
			workers:  4,
			want:     map[string][]int{"priority": {2, 2}, "fairshare": {2, 2}, "roundrobin": {2, 2}},
		},
		{
			name:     "demand caps the share",
			sessions: []P{{Priority: 10}, {Priority: 5}, {Priority: 0}},
			pending:  []int{3, 5, 10},
			workers:  10,
			want:     map[string][]int{"priority": {3, 5, 2}, "fairshare": {3, 5, 2}, "roundrobin": {3, 4, 3}},
		},
		{
			name:     "fairshare weights",
			sessions: []P{{Priority: 3}, {Priority: 1}, {Priority: 0}},
			pending:  []int{100, 100, 100},
			workers:  14,
			want:     map[string][]int{"priority": {14, 0, 0}, "fairshare": {8, 4, 2}, "roundrobin": {5, 5, 4}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachConfig(t, func(t *testing.T, h *harness) {
				for i, p := range tc.sessions {
					id := fmt.Sprint("s", i)
					h.addSession(id, p)
					h.pending(id, tc.pending[i])
				}
				h.addWorkers(tc.workers)
				got := make([]int, len(tc.sessions))
				for i := range got {
					got[i] = h.bound(fmt.Sprint("s", i))
				}
				if want := tc.want[h.policy]; !slices.Equal(got, want) {
					t.Fatalf("workers per session %v, want %v", got, want)
				}
			})
		})
	}
}

// Rule: an idle session loses its workers and gets none until active.
func TestIdleSession(t *testing.T) {
	forEachConfig(t, func(t *testing.T, h *harness) {
		h.addSession("a", P{Priority: 10, MinWorkers: 1})
		h.addSession("b", P{})
		h.addWorkers(5)
		h.pending("a", 5)
		if ds := h.idle("a", true); count(ds, Unbind, ReasonIdle) != 5 || h.have("a") != 0 {
			t.Fatalf("idle: %v", ds)
		}
		if ds := h.pending("a", 10); len(ds) != 0 {
			t.Fatalf("idle session got workers: %v", ds)
		}
		// b takes what a gave back, once the workers are idle.
		if ds := h.pending("b", 3); len(ds) != 0 || h.have("b") != 3 {
			t.Fatalf("b: %v, have %d", ds, h.have("b"))
		}
		if ds := h.finishUnbinds(); count(ds, Bind, ReasonNone) != 3 || h.bound("b") != 3 {
			t.Fatalf("unbound workers: %v", ds)
		}
		if ds := h.idle("a", false); count(ds, Bind, ReasonNone) != 2 {
			t.Fatalf("active again: %v", ds)
		}
	})
}

// Rule: with preemption on, a session with pending work and no free worker
// takes workers from preemptible sessions of lower priority, as far as the
// policy allows; with it off, nothing is taken.
func TestPreemption(t *testing.T) {
	for _, tc := range []struct {
		name    string
		victims []P   // sessions v0, v1, ... holding the workers
		pending []int // their pending batches
		workers int
		hi      P // then hi wants hiPending workers
		hiWant  int
		want    map[string][]int // policy -> have of hi, v0, v1, ... with preemption on
	}{
		{
			name:    "lower and preemptible",
			victims: []P{{Priority: 1, Preemptible: true}}, pending: []int{100}, workers: 4,
			hi: P{Priority: 5}, hiWant: 2,
			want: map[string][]int{"priority": {2, 2}, "fairshare": {2, 2}, "roundrobin": {2, 2}},
		},
		{
			name:    "not preemptible",
			victims: []P{{Priority: 1}}, pending: []int{100}, workers: 4,
			hi: P{Priority: 5}, hiWant: 2,
			want: map[string][]int{"priority": {0, 4}, "fairshare": {0, 4}, "roundrobin": {0, 4}},
		},
		{
			name:    "equal priority",
			victims: []P{{Priority: 5, Preemptible: true}}, pending: []int{100}, workers: 4,
			hi: P{Priority: 5}, hiWant: 2,
			want: map[string][]int{"priority": {0, 4}, "fairshare": {0, 4}, "roundrobin": {0, 4}},
		},
		{
			name:    "higher priority",
			victims: []P{{Priority: 8, Preemptible: true}}, pending: []int{100}, workers: 4,
			hi: P{Priority: 5, MinWorkers: 1}, hiWant: 2,
			want: map[string][]int{"priority": {0, 4}, "fairshare": {0, 4}, "roundrobin": {0, 4}},
		},
		{
			name:    "lowest priority first",
			victims: []P{{Priority: 0, Preemptible: true}, {Priority: 3, Preemptible: true}}, pending: []int{2, 2}, workers: 4,
			hi: P{Priority: 5}, hiWant: 2,
			want: map[string][]int{"priority": {2, 0, 2}, "fairshare": {2, 0, 2}, "roundrobin": {1, 1, 2}},
		},
		{
			name:    "proportion",
			victims: []P{{Priority: 0, Preemptible: true}}, pending: []int{100}, workers: 12,
			hi: P{Priority: 10}, hiWant: 100,
			want: map[string][]int{"priority": {12, 0}, "fairshare": {11, 1}, "roundrobin": {6, 6}},
		},
		{
			name:    "cascade",
			victims: []P{{Priority: 0, Preemptible: true}, {Priority: 5, Preemptible: true}}, pending: []int{100, 100}, workers: 4,
			hi: P{Priority: 10}, hiWant: 100,
			want: map[string][]int{"priority": {4, 0, 0}, "fairshare": {3, 0, 1}, "roundrobin": {1, 1, 2}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachConfig(t, func(t *testing.T, h *harness) {
				ids := []string{"hi"}
				for i, p := range tc.victims {
					id := fmt.Sprint("v", i)
					ids = append(ids, id)
					h.addSession(id, p)
					h.pending(id, tc.pending[i])
				}
				h.addWorkers(tc.workers)
				before := make([]int, len(ids))
				for i, id := range ids[1:] {
					before[i+1] = h.have(id)
				}
				h.addSession("hi", tc.hi)
				ds := h.pending("hi", tc.hiWant)
				want := before
				if h.preempt {
					want = tc.want[h.policy]
				}
				got := make([]int, len(ids))
				for i, id := range ids {
					got[i] = h.have(id)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("have %v = %v, want %v (decisions %v)", ids, got, want, ds)
				}
				if n := h.sc.Stats().Unbinding; n != count(ds, Unbind, ReasonPreempted) {
					t.Fatalf("%d unbinding, %d preempted", n, count(ds, Unbind, ReasonPreempted))
				}
				// The preempted workers keep their in-flight batches: they
				// are bound to nothing until they report idle, then go to
				// the session they were taken for.
				h.pending("hi", tc.hiWant)
				h.pending("v0", 100)
				h.finishUnbinds()
				for i, id := range ids {
					if got := h.bound(id); got != h.have(id) || i == 0 && got != want[0] {
						t.Fatalf("after the unbinds %s has %d bound, want %d", id, got, h.have(id))
					}
				}
			})
		})
	}
}

// A session removed while workers unbind for it gives them up.
func TestPreemptorRemoved(t *testing.T) {
	h := newHarness(t, PolicyPriority, true)
	h.addSession("lo", P{Preemptible: true})
	h.pending("lo", 100)
	h.addWorkers(3)
	h.addSession("hi", P{Priority: 9})
	if ds := h.pending("hi", 2); count(ds, Unbind, ReasonPreempted) != 2 {
		t.Fatalf("preempt: %v", ds)
	}
	if ds := h.removeSession("hi"); len(ds) != 0 {
		t.Fatalf("remove: %v", ds)
	}
	if ds := h.finishUnbinds(); count(ds, Bind, ReasonNone) != 2 || h.bound("lo") != 3 {
		t.Fatalf("unbound workers went to %v", ds)
	}
}

// Rule: closing a session unbinds its workers; they serve others once idle.
func TestRemoveSession(t *testing.T) {
	forEachConfig(t, func(t *testing.T, h *harness) {
		h.addSession("a", P{})
		h.addSession("b", P{})
		h.addWorkers(3)
		h.pending("a", 3)
		if ds := h.removeSession("a"); count(ds, Unbind, ReasonClosed) != 3 {
			t.Fatalf("remove: %v", ds)
		}
		if s := h.sc.Stats(); s != (Stats{Sessions: 1, Unbinding: 3}) {
			t.Fatalf("stats %+v", s)
		}
		if ds := h.pending("b", 5); len(ds) != 0 {
			t.Fatalf("bound workers still unbinding: %v", ds)
		}
		if ds := h.finishUnbinds(); count(ds, Bind, ReasonNone) != 3 {
			t.Fatalf("unbound workers: %v", ds)
		}
		if _, err := h.sc.SetWork("a", Work{Waiting: 1}); !errors.Is(err, ErrUnknownSession) {
			t.Fatalf("removed session: %v", err)
		}
	})
}

// A worker that leaves its session (gone, draining, idle on its own) is
// replaced, and a draining worker gets no work.
func TestWorkerLost(t *testing.T) {
	forEachConfig(t, func(t *testing.T, h *harness) {
		h.addSession("a", P{})
		h.addWorkers(3)
		h.pending("a", 2) // w2, w1 bound, w0 free
		if ds := h.removeWorker("w2"); len(ds) != 1 || ds[0] != (Decision{Action: Bind, Worker: "w0", Session: "a"}) {
			t.Fatalf("remove bound worker: %v", ds)
		}
		if ds := h.workerDraining("w1"); len(ds) != 0 || h.have("a") != 1 {
			t.Fatalf("draining: %v", ds)
		}
		if ds := h.addWorkers(1); len(ds) != 1 || ds[0].Worker != "w3" {
			t.Fatalf("replacement: %v", ds)
		}
		h.pending("a", 3)
		if ds := h.workerIdle("w1"); len(ds) != 1 || ds[0] != (Decision{Action: Bind, Worker: "w1", Session: "a"}) {
			t.Fatalf("drained worker back: %v", ds)
		}
		if ds := h.workerIdle("w3"); len(ds) != 1 || ds[0] != (Decision{Action: Bind, Worker: "w3", Session: "a"}) {
			t.Fatalf("bound worker idle on its own: %v", ds)
		}
		if s := h.sc.Stats(); s != (Stats{Sessions: 1, Bound: 3}) {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestRandomEvents applies random events under every policy and checks the
// invariants and every decision after each step (fixed seed).
func TestRandomEvents(t *testing.T) {
	forEachConfig(t, func(t *testing.T, h *harness) {
		rng := rand.New(rand.NewPCG(1, 2))
		var sessions []string
		workers := func() []string {
			ids := make([]string, 0, len(h.model))
			for id := range h.model {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			return ids
		}
		params := func() P {
			p := P{Priority: rng.IntN(MaxPriority + 1), MinWorkers: rng.IntN(3), Preemptible: rng.IntN(2) == 0}
			if rng.IntN(3) == 0 {
				p.HasMax, p.MaxWorkers = true, p.MinWorkers+rng.IntN(4)
			}
			return p
		}
		nextS := 0
		for range 4000 {
			switch op := rng.IntN(20); {
			case op < 2 && len(sessions) < 25:
				id := fmt.Sprint("s", nextS)
				nextS++
				sessions = append(sessions, id)
				h.addSession(id, params())
			case op < 3 && len(sessions) > 0:
				i := rng.IntN(len(sessions))
				h.removeSession(sessions[i])
				sessions = slices.Delete(sessions, i, i+1)
			case op < 5 && len(sessions) > 0:
				h.update(sessions[rng.IntN(len(sessions))], params())
			case op < 10 && len(sessions) > 0:
				h.work(sessions[rng.IntN(len(sessions))], Work{Waiting: rng.IntN(8), Busy: rng.IntN(3)})
			case op < 11 && len(sessions) > 0:
				h.idle(sessions[rng.IntN(len(sessions))], rng.IntN(3) == 0)
			case op < 13 && len(h.model) < 40:
				h.addWorkers(1)
			case op < 14 && len(h.model) > 0:
				ws := workers()
				h.removeWorker(ws[rng.IntN(len(ws))])
			case op < 15 && len(h.model) > 0:
				ws := workers()
				h.workerDraining(ws[rng.IntN(len(ws))])
			case op < 16 && len(h.model) > 0:
				ws := workers()
				h.workerIdle(ws[rng.IntN(len(ws))])
			case len(h.unbinding) > 0:
				id := h.unbinding[0]
				h.unbinding = h.unbinding[1:]
				if m, ok := h.model[id]; ok && m.state == stateUnbinding {
					h.workerIdle(id)
				}
			}
		}
		u := h.unbinds
		if h.binds == 0 || u[ReasonIdle] == 0 || u[ReasonClosed] == 0 || u[ReasonMaxWorkers] == 0 || h.preempt == (u[ReasonPreempted] == 0) {
			t.Fatalf("the run missed a kind of decision: %d binds, unbinds by reason %v", h.binds, u)
		}
	})
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Bind.String(), "bind"},
		{Unbind.String(), "unbind"},
		{Action(9).String(), "Action(9)"},
		{ReasonNone.String(), "none"},
		{ReasonPreempted.String(), "preempted"},
		{ReasonIdle.String(), "idle"},
		{ReasonClosed.String(), "closed"},
		{ReasonMaxWorkers.String(), "max_workers"},
		{Reason(9).String(), "Reason(9)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
