package bench

import (
	"context"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/core/queue"
	"github.com/alpcrun/alpcrun/core/scheduler"
)

// TestQueueManagerExactlyOnce drives the queue manager, with every queue
// kind and every scheduler policy, through the BenchmarkE2E harness and
// checks that every task comes back exactly once.
func TestQueueManagerExactlyOnce(t *testing.T) {
	type config struct {
		kind   queue.Kind
		policy string
	}
	var configs []config
	for _, k := range queue.Kinds() {
		configs = append(configs, config{k, defaultPolicy})
	}
	for _, p := range scheduler.Policies() {
		if p != defaultPolicy {
			configs = append(configs, config{defaultKind, p})
		}
	}
	for _, c := range configs {
		for _, tc := range []struct {
			shape Shape
			tasks int
		}{
			{Shape{Workers: 4, Batch: 7, Payload: 64, Inflight: 16}, 3000},
			{Shape{Workers: 1, Batch: 1, Payload: 0, Inflight: 1}, 200},
		} {
			t.Run("impl="+string(c.kind)+"/policy="+c.policy+"/"+tc.shape.Name(), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				sys := StartQueueManager(c.kind, c.policy, tuned)(ctx, t, tc.shape)
				res, err := Run(ctx, sys.Stream, sys.SessionID, tc.shape, tc.tasks)
				if err != nil {
					t.Fatal(err)
				}
				if err := res.Verify(tc.tasks); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
