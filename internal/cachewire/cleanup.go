package cachewire

import (
	"context"
	"log/slog"
	"time"
)

// Cleanup runs clean, a store's or node's cleanup loop, on a ticker of
// interval until the returned stop is called; stop waits for it to end.
func Cleanup(interval time.Duration, log *slog.Logger, clean func(ctx context.Context, tick <-chan time.Time, removed func(int))) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	t := time.NewTicker(interval)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.Stop()
		clean(ctx, t.C, func(n int) { log.Debug("removed expired shared data", "entries", n) })
	}()
	return func() {
		cancel()
		<-done
	}
}
