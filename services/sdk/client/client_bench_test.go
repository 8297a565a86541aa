package client_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// BenchmarkRoundTrip submits b.N echo tasks through a real queue manager
// and one worker over loopback and reads every result; allocs/op are per
// task on both ends (the queue manager and worker run in-process).
//
//	go test -run '^$' -bench RoundTrip -benchtime 20000x -count 10 ./services/sdk/client/
func BenchmarkRoundTrip(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("maxbatch=%d", batch), func(b *testing.B) {
			addr := startQM(b)
			startWorkers(b, addr, 1, func(_ context.Context, t worker.Task) ([]byte, error) { return t.Payload, nil })
			ctx := context.Background()
			c, err := client.Dial(ctx, addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			s, err := c.CreateSession(ctx, client.SessionOptions{AppID: "bench", MaxBatchSize: batch})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(ctx)
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = strconv.Itoa(i)
			}
			payload := make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for _, id := range ids {
					if err := s.Submit(ctx, id, payload); err != nil {
						b.Error(err)
						return
					}
				}
				s.CloseSend()
			}()
			n := 0
			for range s.Results() {
				n++
			}
			b.StopTimer()
			if err := s.Wait(ctx); err != nil || n != b.N {
				b.Fatalf("%d results of %d: %v", n, b.N, err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
