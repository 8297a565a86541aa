package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// handlerFor returns the task function named by --task:
//
//	echo          the result is the payload
//	sleep:DUR     waits DUR (a Go duration, e.g. 10ms), then echoes
//	pi            Monte Carlo estimate of π: the payload is the number of
//	              samples as decimal text ("1000000"); the result is the
//	              number of samples that fell inside the unit quarter
//	              circle, as decimal text, so π ≈ 4·Σhits/Σsamples. The
//	              random stream is seeded from the session and task ids,
//	              so a redelivered task gives the same answer.
func handlerFor(task string) (worker.Handler, error) {
	switch {
	case task == "echo":
		return echo, nil
	case task == "pi":
		return pi, nil
	case strings.HasPrefix(task, "sleep:"):
		d, err := time.ParseDuration(strings.TrimPrefix(task, "sleep:"))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad --task %q: want sleep:DURATION, e.g. sleep:10ms", task)
		}
		return func(ctx context.Context, t worker.Task) ([]byte, error) {
			timer := time.NewTimer(d)
			defer timer.Stop()
			select {
			case <-timer.C:
				return t.Payload, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}, nil
	}
	return nil, fmt.Errorf("unknown --task %q: want echo, sleep:DURATION or pi", task)
}

func echo(_ context.Context, t worker.Task) ([]byte, error) { return t.Payload, nil }

// maxSamples bounds one pi task (about a second of work) so that a typo in
// a payload cannot occupy a slot for hours.
const maxSamples = 1 << 30

func pi(_ context.Context, t worker.Task) ([]byte, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(string(t.Payload)), 10, 64)
	if err != nil || n == 0 || n > maxSamples {
		return nil, fmt.Errorf("pi: payload %q is not a sample count in 1..%d", t.Payload, maxSamples)
	}
	h := fnv.New64a()
	h.Write([]byte(t.SessionID))
	h.Write([]byte{0})
	h.Write([]byte(t.ID))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0x9e3779b97f4a7c15))
	var hits uint64
	for range n {
		x, y := rng.Float64(), rng.Float64()
		if x*x+y*y <= 1 {
			hits++
		}
	}
	return strconv.AppendUint(nil, hits, 10), nil
}
