package bench

import "fmt"

// e2eGrid returns BenchmarkE2E's workers, batch sizes and payloads for the
// E2E_GRID environment variable: unset or "small", the default grid that
// make bench runs in about 25 minutes on 2 cores; "full", the lab's whole
// matrix (4 × 4 × 2 shapes per impl, hours at COUNT=10: narrow it with
// BENCH; at 64 workers and batch 1000 the window is 1024 batches, up to 4 GiB
// of 4 KiB payloads in flight). An unknown name panics, so that a typo does not quietly run the
// small grid.
func e2eGrid(name string) (workers, batches, payloads []int) {
	switch name {
	case "", "small":
		return []int{1, 4}, []int{1, 100}, []int{64}
	case "full":
		return []int{1, 4, 16, 64}, []int{1, 10, 100, 1000}, []int{64, 4096}
	}
	panic(fmt.Sprintf("bench: E2E_GRID=%q: want small or full", name))
}
