package allinone

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// TaskNamed returns the task named by `alpcrun up --task`; echo and sleep
// are those of cmd/worker, so that loadgen drives either the same way:
//
//	echo        the result is the payload
//	sleep:DUR   waits DUR (a Go duration, e.g. 10ms), then echoes
//	european    EuropeanTask: Monte Carlo pricing, as in the demo
func TaskNamed(name string) (Task, error) {
	switch {
	case name == "echo":
		return Task{Handler: echo}, nil
	case name == "european":
		return EuropeanTask(), nil
	case strings.HasPrefix(name, "sleep:"):
		d, err := time.ParseDuration(strings.TrimPrefix(name, "sleep:"))
		if err != nil || d < 0 {
			return Task{}, fmt.Errorf("allinone: bad task %q: want sleep:DURATION, e.g. sleep:10ms", name)
		}
		return Task{Handler: sleep(d)}, nil
	}
	return Task{}, fmt.Errorf("allinone: unknown task %q: want echo, sleep:DURATION or european", name)
}

func echo(_ context.Context, t worker.Task) ([]byte, error) { return t.Payload, nil }

func sleep(d time.Duration) worker.Handler {
	return func(ctx context.Context, t worker.Task) ([]byte, error) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			return t.Payload, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Up runs the cluster of `alpcrun up` (see Run).
func Up(ctx context.Context, cfg UpConfig, ready chan<- Addrs) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	task, err := TaskNamed(cfg.Task)
	if err != nil {
		return err
	}
	return Run(ctx, cfg.Config, task, ready)
}
