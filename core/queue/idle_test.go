//go:build unix

package queue

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIdle measures what consumers waiting on an empty queue cost:
// four consumers sit in Pop for b.N milliseconds of wall time while the
// process's CPU time (user+sys, getrusage) is read around the wait. cpu% is
// the share of one core used meanwhile: near 0 for consumers that park, up
// to 100 per consumer for ones that spin. It reports cpu% only: its ns/op
// would be the fixed 1ms window, which reads as a time per op and lands in
// the tables of BenchmarkQueue's ns/op.
//
// Reproduce:
//
//	go test -run '^$' -bench 'BenchmarkIdle/' -benchtime 200x -count 10 ./core/queue
func BenchmarkIdle(b *testing.B) {
	for _, im := range benchImpls() {
		b.Run("impl="+im.name, func(b *testing.B) { benchIdle(b, im.new(b)) })
	}
}

func benchIdle(b *testing.B, q Queue) {
	const consumers = 4
	ctx := context.Background()
	var started sync.WaitGroup
	errs := make(chan error, consumers)
	for range consumers {
		started.Add(1)
		go func() {
			started.Done()
			_, err := q.Pop(ctx)
			errs <- err
		}()
	}
	started.Wait()

	b.ResetTimer()
	before, start := cpuTime(b), time.Now()
	// The idle window is the measurement, not a wait for an event.
	time.Sleep(time.Duration(b.N) * time.Millisecond)
	used, wall := cpuTime(b)-before, time.Since(start)
	b.StopTimer()

	select {
	case err := <-errs:
		b.Fatalf("Pop on an empty queue returned while idle: %v", err)
	default:
	}
	q.Close()
	for range consumers {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrClosed) {
				b.Fatalf("idle Pop after Close = %v, want ErrClosed", err)
			}
		case <-time.After(eventWait):
			b.Fatalf("idle Pop still blocked %v after Close", eventWait)
		}
	}
	b.ReportMetric(100*used.Seconds()/wall.Seconds(), "cpu%")
	b.ReportMetric(0, "ns/op") // 0 drops it from the output
}

// cpuTime is the CPU time the whole process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
