package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkSchedule measures the decision cost of one event, the figure
// docs/design.md, Scheduling, bounds, for every policy with preemption off and on, with S
// sessions and W workers. The sessions have random priorities, min and max
// workers, preemptibility and backlogs of up to four times the workers per
// session, so workers are contended; all workers start bound. Each timed
// iteration is one event as the queue manager reports them: a worker told
// Unbind reports idle (WorkerIdle) while any is left, as they do once
// their in-flight batches are done; otherwise, in turn, tasks arrive for a
// random session (SetWork), a session holding workers goes idle
// (SetIdle true, which unbinds them all) or an idle session becomes active
// again (SetIdle false, which may preempt). ns/event is the time per event
// including the decisions it returns (decisions/event); after the run the
// state's invariants are checked.
//
// Reproduce: go test -run '^$' -bench BenchmarkSchedule -benchtime 2000x ./core/scheduler/
func BenchmarkSchedule(b *testing.B) {
	for _, policy := range Policies() {
		for _, preempt := range []bool{false, true} {
			for _, sessions := range []int{10, 1000, 10000} {
				for _, workers := range []int{10, 1000, 10000} {
					name := fmt.Sprintf("policy=%s/preempt=%s/sessions=%d/workers=%d", policy, onOff(preempt), sessions, workers)
					b.Run(name, func(b *testing.B) { benchSchedule(b, policy, preempt, sessions, workers) })
				}
			}
		}
	}
}

func benchSchedule(b *testing.B, policy string, preempt bool, nSessions, nWorkers int) {
	sc, err := New(policy, Options{Preemption: preempt})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	maxPending := 4*nWorkers/nSessions + 2
	ids := make([]string, nSessions)
	index := make(map[string]int, nSessions)
	for i := range ids {
		ids[i] = fmt.Sprint("s", i)
		index[ids[i]] = i
		p := SessionParams{Priority: rng.IntN(MaxPriority + 1), MinWorkers: rng.IntN(2), Preemptible: rng.IntN(2) == 0}
		if rng.IntN(4) == 0 {
			p.HasMax, p.MaxWorkers = true, p.MinWorkers+1+rng.IntN(4)
		}
		if err := sc.AddSession(ids[i], p); err != nil {
			b.Fatal(err)
		}
		if _, err := sc.SetWork(ids[i], Work{Waiting: 1 + rng.IntN(maxPending)}); err != nil {
			b.Fatal(err)
		}
	}

	// The caller's side: bound workers per session, sessions that hold
	// workers (busy) and idle ones, workers told Unbind.
	bound := make([]int, nSessions)
	busy, idle := newIntSet(nSessions), newIntSet(nSessions)
	var unbinding []string
	decisions := 0
	apply := func(ds []Decision, err error) {
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range ds {
			k := index[d.Session]
			if d.Action == Bind {
				if bound[k]++; bound[k] == 1 {
					busy.add(k)
				}
				continue
			}
			if bound[k]--; bound[k] == 0 {
				busy.remove(k)
			}
			unbinding = append(unbinding, d.Worker)
		}
		decisions += len(ds)
	}
	for i := range nWorkers {
		apply(sc.AddWorker(fmt.Sprint("w", i)))
	}
	decisions = 0

	b.ReportAllocs()
	events, next, cycle := 0, 0, 0
	for b.Loop() {
		events++
		if next < len(unbinding) {
			next++
			apply(sc.WorkerIdle(unbinding[next-1]))
			continue
		}
		switch cycle++; cycle % 3 {
		case 0:
			apply(sc.SetWork(ids[rng.IntN(nSessions)], Work{Waiting: 1 + rng.IntN(maxPending)}))
		case 1:
			if k, ok := busy.pick(rng); ok {
				idle.add(k)
				apply(sc.SetIdle(ids[k], true))
			}
		case 2:
			if k, ok := idle.pick(rng); ok {
				idle.remove(k)
				apply(sc.SetIdle(ids[k], false))
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
	b.ReportMetric(float64(decisions)/float64(events), "decisions/event")
	checkInvariants(b, sc)
	if decisions == 0 {
		b.Fatalf("%d events decided nothing", events)
	}
}

// intSet is a set of small ints with O(1) add, remove and random pick.
type intSet struct {
	items []int
	pos   []int // index in items + 1, 0 when absent
}

func newIntSet(n int) *intSet { return &intSet{pos: make([]int, n)} }

func (s *intSet) add(k int) {
	if s.pos[k] == 0 {
		s.items = append(s.items, k)
		s.pos[k] = len(s.items)
	}
}

func (s *intSet) remove(k int) {
	i := s.pos[k] - 1
	if i < 0 {
		return
	}
	last := s.items[len(s.items)-1]
	s.items[i] = last
	s.pos[last] = i + 1
	s.items = s.items[:len(s.items)-1]
	s.pos[k] = 0
}

func (s *intSet) pick(rng *rand.Rand) (int, bool) {
	if len(s.items) == 0 {
		return 0, false
	}
	return s.items[rng.IntN(len(s.items))], true
}
