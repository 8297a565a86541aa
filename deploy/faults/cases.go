package main

import (
	"context"
	"time"
)

// faultCase is one fault injected into a run of tasks.
type faultCase struct {
	key, name string
	// inject puts the fault in once a quarter of the (first) tasks have
	// results and, for a passing fault, takes it out again. The fault's
	// time runs from the call.
	inject func(ctx context.Context, e *env) error
	// heal brings the cluster back to full strength after the case (nil:
	// only wait for every worker).
	heal func(ctx context.Context, e *env) error
	// redelivers: the fault must have cost tasks in flight a redelivery
	// (else it hit nothing and proved nothing).
	redelivers bool
	// newLevel: half the tasks are submitted only after the fault, once
	// the first half is answered, at shared-data level 2, so that every
	// worker must read shared data after the fault.
	newLevel bool
	// mustReset: the central cache must have lost the session's shared
	// data, which the client then writes again.
	mustReset bool
	// recovery says which results count as recovered, for the recovery
	// time: a redelivered one, one of the tasks submitted after the fault,
	// or any result after the fault ended.
	recovery recoveryKind
}

type recoveryKind int

const (
	byRedelivery recoveryKind = iota
	byNewTask
	byAnyAfter
)

// cases returns every case, in the order they run: those that restart a
// server last, the queue manager's at the very end.
func cases(workerTimeout time.Duration) []faultCase {
	// A frozen or partitioned worker stays so for two workerTimeouts: the
	// queue manager must notice it missing while it still is.
	hold := 2 * workerTimeout
	return []faultCase{{
		key: "a", name: "worker SIGKILL mid-batch",
		inject: func(ctx context.Context, e *env) error {
			return e.cl.do(ctx, "kill", "worker-1a", "--signal", "KILL")
		},
		heal:       func(ctx context.Context, e *env) error { return e.cl.do(ctx, "start", "worker-1a") },
		redelivers: true, recovery: byRedelivery,
	}, {
		key: "b", name: "worker frozen (docker pause) " + hold.String(),
		inject: func(ctx context.Context, e *env) error {
			if err := e.cl.do(ctx, "pause", "worker-1b"); err != nil {
				return err
			}
			e.logf("worker-1b paused for %v (workerTimeout %v)", hold, workerTimeout)
			sleepErr := sleep(ctx, hold)
			return firstErr(e.cl.do(context.WithoutCancel(ctx), "unpause", "worker-1b"), sleepErr)
		},
		redelivers: true, recovery: byRedelivery,
	}, {
		key: "c1", name: "worker-QM partition (stall) " + hold.String(),
		inject: func(ctx context.Context, e *env) error {
			if err := e.cl.wire(ctx, "stall"); err != nil {
				return err
			}
			e.logf("worker-3's link to the queue manager stalled for %v", hold)
			sleepErr := sleep(ctx, hold)
			return firstErr(e.cl.wire(context.WithoutCancel(ctx), "restore"), sleepErr)
		},
		redelivers: true, recovery: byRedelivery,
	}, {
		key: "c2", name: "worker-QM link cut " + workerTimeout.String(),
		inject: func(ctx context.Context, e *env) error {
			if err := e.cl.wire(ctx, "cut"); err != nil {
				return err
			}
			e.logf("worker-3's connections to the queue manager cut, new ones refused for %v", workerTimeout)
			sleepErr := sleep(ctx, workerTimeout)
			return firstErr(e.cl.wire(context.WithoutCancel(ctx), "restore"), sleepErr)
		},
		redelivers: true, recovery: byRedelivery,
	}, {
		key: "d", name: "node cache SIGKILL",
		inject: func(ctx context.Context, e *env) error {
			return e.cl.do(ctx, "kill", "node-cache-1", "--signal", "KILL")
		},
		heal:     func(ctx context.Context, e *env) error { return e.cl.do(ctx, "start", "node-cache-1") },
		newLevel: true, recovery: byNewTask,
	}, {
		key: "e", name: "central cache restart",
		inject: func(ctx context.Context, e *env) error {
			if err := e.cl.do(ctx, "restart", "central-cache", "--time", "1"); err != nil {
				return err
			}
			return e.cl.follow(ctx, "central-cache")
		},
		newLevel: true, mustReset: true, recovery: byNewTask,
	}, {
		key: "f", name: "queue manager restart",
		inject: func(ctx context.Context, e *env) error {
			if err := e.cl.do(ctx, "restart", "queue-manager", "--time", "1"); err != nil {
				return err
			}
			return e.cl.follow(ctx, "queue-manager")
		},
		recovery: byAnyAfter,
	}}
}

// sleep waits d or until ctx ends: a fault's planned duration.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
