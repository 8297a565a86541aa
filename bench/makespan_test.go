package bench

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/services/sdk/client"
)

// The makespan grid. Each shape has about makespanIdeal of work per slot:
// long enough that binding the workers is a small part of it, short
// enough for the whole grid to take about 15 s a pass.
const (
	makespanIdeal       = 750 * time.Millisecond
	makespanConcurrency = 2
	// makespanSeed fixes the lognormal durations: every round, pass and
	// run draws the same.
	makespanSeed = 1
)

// makespanTasks are the task durations: fixed, and a heavy-tailed mix.
var makespanTasks = []struct {
	name      string
	mean      time.Duration
	lognormal bool
}{
	{"1ms", time.Millisecond, false},
	{"10ms", 10 * time.Millisecond, false},
	{"100ms", 100 * time.Millisecond, false},
	{"lognormal", 10 * time.Millisecond, true},
}

var makespanWorkers = []int{4, 16, 64}

// makespanOneBatchWorkers is the worker count of the send=onebatch rows.
const makespanOneBatchWorkers = 16

// makespanPlan returns BenchmarkMakespan's rows: every task duration on 4,
// 16 and 64 workers with the SDK's batching, and at 16 workers as one
// batch, in that order, so that a plot's task axis reads 1ms, 10ms,
// 100ms, lognormal. It leaves out 1 ms tasks on 64 workers: 128 slots of
// 1 ms tasks are 128,000 tasks/s, what the system moves on 2 cores with no
// sleep at all, so that row would measure the CPU, not the dispatch.
func makespanPlan() []MakespanShape {
	var rows []MakespanShape
	for _, t := range makespanTasks {
		for _, w := range makespanWorkers {
			if t.mean == time.Millisecond && w == 64 {
				continue
			}
			n := int(math.Round(makespanIdeal.Seconds() * float64(w*makespanConcurrency) / t.mean.Seconds()))
			s := MakespanShape{Task: t.name, Workers: w, Concurrency: makespanConcurrency,
				Durations: FixedDurations(t.mean, n)}
			if t.lognormal {
				s.Durations = LognormalDurations(t.mean, 1, n, makespanSeed)
			}
			rows = append(rows, s)
			if w == makespanOneBatchWorkers {
				s.OneBatch = true
				rows = append(rows, s)
			}
		}
	}
	return rows
}

// BenchmarkMakespan measures how well the system keeps workers busy with
// tasks that take time, as
// BenchmarkMakespan/task=T/workers=W/send=S: tasks that sleep T (1ms,
// 10ms, 100ms, or lognormal: mean 10 ms, sigma 1, fixed seed) on W worker
// SDK workers of concurrency 2, sent by the client SDK one Submit at a
// time (send=sdk, its default batching) or in one SubmitBatch
// (send=onebatch). Each round is a fresh system (makespan.go) with every
// worker registered before the clock starts; the clock runs from the first
// submit to the last result. It reports
//
//   - efficiency: ideal-s over makespan-s; 1 is every slot busy all along,
//     1/W one worker doing everything;
//   - makespan-s: the measured makespan, per round;
//   - ideal-s: total task time over W × 2 slots, about 0.75 s per shape;
//   - workers-used: workers that ran at least one task.
//
// make bench runs it as the makespan suite (one round per row and pass):
//
//	go test -run '^$' -bench 'BenchmarkMakespan' -benchtime 1x -count 10 ./bench
func BenchmarkMakespan(b *testing.B) {
	for _, s := range makespanPlan() {
		b.Run(s.Name(), func(b *testing.B) { benchMakespan(b, s) })
	}
}

// benchMakespan runs b.N rounds of s, the timer running only while tasks
// are out, and reports the rounds' efficiency as their total ideal over
// their total makespan. After the timer stops, every round must have
// returned each task's result exactly once.
func benchMakespan(b *testing.B, s MakespanShape) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	var makespan, ideal time.Duration
	used := 0
	b.StopTimer()
	for range b.N {
		sys, err := StartMakespan(ctx, s)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := sys.Run(ctx)
		b.StopTimer()
		if cerr := sys.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := res.Verify(len(s.Durations)); err != nil {
			b.Fatalf("%s: %v", s.Name(), err)
		}
		makespan += res.Elapsed
		ideal += res.Ideal
		used += res.WorkersUsed
	}
	b.ReportMetric(ideal.Seconds()/makespan.Seconds(), "efficiency")
	b.ReportMetric(makespan.Seconds()/float64(b.N), "makespan-s")
	b.ReportMetric(ideal.Seconds()/float64(b.N), "ideal-s")
	b.ReportMetric(float64(used)/float64(b.N), "workers-used")
}

// TestMakespan runs a tiny shape through the real system, sent both ways:
// every result must come back exactly once, the ideal is the total task
// time over the slots, and the efficiency is the ideal over the measured
// makespan. Sleeping tasks cannot finish sooner than the ideal on that
// many slots, so the efficiency is at most 1 on any machine.
func TestMakespan(t *testing.T) {
	for _, one := range []bool{false, true} {
		s := MakespanShape{Task: "5ms", Workers: 2, Concurrency: 2, OneBatch: one,
			Durations: FixedDurations(5*time.Millisecond, 20)}
		t.Run(s.Name(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := RunMakespan(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Verify(20); err != nil {
				t.Error(err)
			}
			if res.Ideal != 25*time.Millisecond {
				t.Errorf("ideal %v, want 20 × 5ms / (2 workers × 2) = 25ms", res.Ideal)
			}
			if want := res.Ideal.Seconds() / res.Elapsed.Seconds(); res.Efficiency() != want {
				t.Errorf("efficiency %v, want ideal/makespan = %v", res.Efficiency(), want)
			}
			if res.Elapsed < res.Ideal {
				t.Errorf("makespan %v below the ideal %v: the clock or the slots are off", res.Elapsed, res.Ideal)
			}
			if res.WorkersUsed < 1 || res.WorkersUsed > 2 {
				t.Errorf("%d workers used, want 1 or 2", res.WorkersUsed)
			}
		})
	}
}

// TestMakespanCollect feeds collect results by hand: a duplicate is
// counted apart, the set completes at its last distinct task, and an
// unknown id is an error.
func TestMakespanCollect(t *testing.T) {
	ch := make(chan client.Result, 8)
	for _, id := range []string{"0", "2", "0", "1"} {
		ch <- client.Result{ID: id}
	}
	close(ch)
	r, err := collect(context.Background(), ch, 3, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Received != 3 || r.Duplicates != 1 || r.Elapsed <= 0 {
		t.Errorf("got %d received, %d duplicates, elapsed %v; want 3, 1, > 0", r.Received, r.Duplicates, r.Elapsed)
	}
	if r.Verify(3) == nil {
		t.Error("Verify passed a run with a duplicate")
	}

	ch = make(chan client.Result, 1)
	ch <- client.Result{ID: "3"}
	close(ch)
	if _, err := collect(context.Background(), ch, 3, time.Now()); err == nil {
		t.Error("collect accepted task id 3 of 3 tasks")
	}
}

// TestMakespanPlan checks the grid: distinct names, about makespanIdeal of
// work per slot, the rows the targets and make gate read, and the
// same lognormal durations on every call.
func TestMakespanPlan(t *testing.T) {
	rows := makespanPlan()
	names := map[string]bool{}
	for _, s := range rows {
		if names[s.Name()] {
			t.Errorf("%s twice", s.Name())
		}
		names[s.Name()] = true
		if id := s.Ideal(); id < makespanIdeal*9/10 || id > makespanIdeal*11/10 {
			t.Errorf("%s: ideal %v, want about %v", s.Name(), id, makespanIdeal)
		}
	}
	for _, name := range []string{
		"task=10ms/workers=16/send=sdk", // make gate's row
		"task=10ms/workers=64/send=sdk",
		"task=100ms/workers=16/send=sdk",
		"task=100ms/workers=64/send=sdk",
		"task=lognormal/workers=64/send=sdk",
		"task=1ms/workers=16/send=sdk",
		"task=1ms/workers=16/send=onebatch",
		"task=10ms/workers=16/send=onebatch",
		"task=100ms/workers=16/send=onebatch",
		"task=lognormal/workers=16/send=onebatch",
	} {
		if !names[name] {
			t.Errorf("no row %s", name)
		}
	}
	a := LognormalDurations(10*time.Millisecond, 1, 9600, makespanSeed)
	if b := LognormalDurations(10*time.Millisecond, 1, 9600, makespanSeed); !slices.Equal(a, b) {
		t.Error("two draws of the lognormal durations differ")
	}
	var sum time.Duration
	for _, d := range a {
		sum += d
	}
	// The standard error of the mean of 9600 draws is 1.3% (the
	// lognormal's standard deviation is 1.31 × its mean at sigma 1).
	if mean := sum / time.Duration(len(a)); mean < 9*time.Millisecond || mean > 11*time.Millisecond {
		t.Errorf("lognormal mean %v, want about 10ms", mean)
	}
	if len(rows) != 15 {
		t.Errorf("%d rows, want 15", len(rows))
	}
}
