package servicetest

import (
	"context"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	type inner struct{ A, B int }
	type opts struct {
		N      int
		S      string
		In     inner
		Now    func() time.Time
		hidden int
	}
	def := opts{N: 1, S: "def", In: inner{A: 2, B: 3}, Now: time.Now, hidden: 9}
	got := Defaults(opts{S: "mine", In: inner{B: 7}}, def)
	if got.N != 1 || got.S != "mine" || got.In != (inner{A: 2, B: 7}) || got.Now == nil || got.hidden != 0 {
		t.Fatalf("Defaults = %+v", got)
	}
}

func TestClock(t *testing.T) {
	c := NewClock()
	t0 := c.Now()
	c.Advance(time.Minute)
	if d := c.Now().Sub(t0); d != time.Minute {
		t.Fatalf("advanced %v, want 1m", d)
	}
}

// RunUntilReady stops the service when the test ends: cleanups run last
// registered first, so the check registered before runs after the stop.
func TestRunUntilReady(t *testing.T) {
	var stopped bool
	t.Cleanup(func() {
		if !stopped {
			t.Error("run not stopped when the test ended")
		}
	})
	addr := RunUntilReady(t, func(ctx context.Context, ready chan<- string) error {
		ready <- "here"
		<-ctx.Done()
		stopped = true
		return nil
	})
	if addr != "here" {
		t.Fatalf("addr %q", addr)
	}
}
