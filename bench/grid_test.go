package bench

import (
	"fmt"
	"slices"
	"testing"

	"github.com/alpcrun/alpcrun/core/queue"
	"github.com/alpcrun/alpcrun/core/scheduler"
)

// An e2eRow is one system and shape of the end-to-end benchmarks.
type e2eRow struct {
	impl   string // "relay" or a queue kind
	policy string // a scheduler policy; relayPolicy for the relay
	shape  Shape
}

// relayPolicy is the relay's policy= value: it schedules nothing.
const relayPolicy = "none"

// The matrix: BenchmarkE2EMatrix's dimensions. Each loaded shape keeps
// inflightPerWorker batches per worker in flight, capped by
// maxInflightBytes.
var (
	gridWorkers  = []int{1, 4, 16, 64}
	gridBatches  = []int{1, 10, 100, 1000}
	gridPayloads = []int{64, 4096}
)

// defaultKind and defaultPolicy are the queue manager's defaults
// (docs/design.md, Configuration): the small grid runs every shape with
// them.
const (
	defaultKind   = queue.Priority
	defaultPolicy = scheduler.PolicyPriority
)

// idleShape measures an idle system's round trip: one batch in flight.
var idleShape = Shape{Workers: 1, Batch: 1, Payload: 64, Inflight: 1}

// The small grid sweeps each other dimension across a few shapes, each
// with the idle shape: the other kinds across batch sizes at 4 workers
// (what batching does to each queue), the other policies across workers at
// batch 100 (how binding more workers goes), and shared data, for the
// relay and the default kind and policy, at the gate's loaded shape, its
// batch=1 twin (one shared-data read per task) and 64 workers with 4 KiB
// payloads (64 node-cache clients).
var (
	kindShapes   = []Shape{loaded(4, 1, 64), loaded(4, 10, 64), loaded(4, 100, 64), loaded(4, 1000, 64), idleShape}
	policyShapes = []Shape{loaded(1, 100, 64), loaded(4, 100, 64), loaded(16, 100, 64), loaded(64, 100, 64), idleShape}
	sharedShapes = []Shape{loaded(4, 100, 64), loaded(4, 1, 64), loaded(64, 100, 4096), idleShape}
)

// maxInflightBytes caps a loaded shape's window by its tasks' bytes, each
// counted as its payload plus taskOverhead, so that 64 workers × batch
// 1000 × 4 KiB keep 64 MiB in flight rather than 4 GiB (16 batches, still
// many times what 2 cores work on at once). It binds 4 KiB payloads from 4
// workers at batch 1000 and from 16 at batch 100, and 64 B payloads only
// at 64 workers and batch 1000.
const (
	maxInflightBytes = 64 << 20
	taskOverhead     = 64 // id, headers and framing of a task, roughly
)

// loaded is the throughput shape for workers, batch and payload.
func loaded(workers, batch, payload int) Shape {
	window := workers * inflightPerWorker
	if perBatch := batch * (payload + taskOverhead); window*perBatch > maxInflightBytes {
		window = max(1, maxInflightBytes/perBatch)
	}
	return Shape{Workers: workers, Batch: batch, Payload: payload, Inflight: window}
}

// e2ePlan returns the rows of BenchmarkE2EMatrix for the E2E_GRID
// environment variable, relay rows first so that each run measures the
// limit before the systems judged against it. Every queue-manager row has
// a relay row of the same shape and shared setting.
//
// Unset or "small", what make bench runs: the relay and the default kind
// and policy on the whole workers × batch × payload grid plus the idle
// shape, shared data off; every other kind across kindShapes, every other
// policy across policyShapes, and shared data on for the relay and the
// default kind and policy across sharedShapes. That is 33 × 2 + 5 × 4 +
// 5 × 2 + 4 × 2 = 104 rows.
//
// "full": the whole cross product, relay and every kind × every policy ×
// shared off and on × the grid and the idle shape: 33 × 2 × (1 + 5 × 3) =
// 1056 rows, about 15 minutes a pass, 2.5 hours at COUNT=10;
// narrow it with BENCH.
//
// An unknown name panics, so that a typo does not quietly run the small
// grid.
func e2ePlan(name string) []e2eRow {
	var grid []Shape
	for _, w := range gridWorkers {
		for _, b := range gridBatches {
			for _, p := range gridPayloads {
				grid = append(grid, loaded(w, b, p))
			}
		}
	}
	grid = append(grid, idleShape)
	kinds, policies := queue.Kinds(), scheduler.Policies()
	var rows []e2eRow
	add := func(impl, policy string, shared bool, shapes []Shape) {
		for _, s := range shapes {
			s.Shared = shared
			rows = append(rows, e2eRow{impl: impl, policy: policy, shape: s})
		}
	}
	switch name {
	case "", "small":
		for _, shared := range []bool{false, true} {
			shapes := grid
			if shared {
				shapes = sharedShapes
			}
			add("relay", relayPolicy, shared, shapes)
			add(string(defaultKind), defaultPolicy, shared, shapes)
		}
		for _, k := range kinds {
			if k != defaultKind {
				add(string(k), defaultPolicy, false, kindShapes)
			}
		}
		for _, p := range policies {
			if p != defaultPolicy {
				add(string(defaultKind), p, false, policyShapes)
			}
		}
	case "full":
		for _, shared := range []bool{false, true} {
			add("relay", relayPolicy, shared, grid)
			for _, k := range kinds {
				for _, p := range policies {
					add(string(k), p, shared, grid)
				}
			}
		}
	default:
		panic(fmt.Sprintf("bench: E2E_GRID=%q: want small or full", name))
	}
	// Relay rows first, in the order added.
	slices.SortStableFunc(rows, func(a, b e2eRow) int {
		return boolInt(b.impl == "relay") - boolInt(a.impl == "relay")
	})
	return rows
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestE2EPlan checks the plans: their sizes, a relay row for every
// queue-manager row, distinct names, the in-flight cap, and the rows the
// gate runs (scripts/gate.sh), which must keep their names.
func TestE2EPlan(t *testing.T) {
	for grid, want := range map[string]int{"small": 104, "full": 1056} {
		rows := e2ePlan(grid)
		if len(rows) != want {
			t.Errorf("%s: %d rows, want %d", grid, len(rows), want)
		}
		names, relay := map[string]bool{}, map[Shape]bool{}
		for i, r := range rows {
			if names[r.matrixName()] {
				t.Errorf("%s: %s twice", grid, r.matrixName())
			}
			names[r.matrixName()] = true
			if r.impl == "relay" {
				if i > 0 && rows[i-1].impl != "relay" {
					t.Errorf("%s: relay row %s after a queue-manager row", grid, r.matrixName())
				}
				relay[r.shape] = true
			} else if !relay[r.shape] {
				t.Errorf("%s: %s has no relay row of its shape", grid, r.matrixName())
			}
			s := r.shape
			if s.Inflight > 1 && s.Inflight*s.Batch*(s.Payload+taskOverhead) > maxInflightBytes {
				t.Errorf("%s: %s keeps more than %d bytes in flight", grid, r.matrixName(), maxInflightBytes)
			}
		}
	}
	e2e := map[string]bool{}
	for _, r := range e2ePlan("small") {
		if name, ok := r.e2eName(); ok {
			e2e[name] = true
		}
	}
	for _, name := range []string{
		"impl=relay/workers=4/batch=100/payload=64/inflight=64",
		"impl=priority/workers=4/batch=100/payload=64/inflight=64",
		"impl=relay/workers=1/batch=1/payload=64/inflight=1",
		"impl=priority/workers=1/batch=1/payload=64/inflight=1",
	} {
		if !e2e[name] {
			t.Errorf("BenchmarkE2E lacks the gate's row %s", name)
		}
	}
	if s := loaded(64, 1000, 4096); s.Inflight != 16 {
		t.Errorf("64 workers × batch 1000 × 4 KiB: window %d batches, want 16 (64 MiB)", s.Inflight)
	}
	if s := loaded(4, 100, 64); s.Inflight != 4*inflightPerWorker {
		t.Errorf("4 workers × batch 100 × 64 B: window %d batches, want %d (uncapped)", s.Inflight, 4*inflightPerWorker)
	}
}

func TestE2EPlanUnknownGrid(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("e2ePlan(\"smal\") did not panic")
		}
	}()
	e2ePlan("smal")
}
