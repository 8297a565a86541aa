package loadgen

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints a point's progress line until stop.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
}

// startProgress prints, every cfg.ProgressInterval (default 250ms on a
// terminal, 5s otherwise), the tasks sent and answered so far and the rate
// of answers since the last line, and a last line when the point ends, so
// that every point has one however short. On a terminal the line is
// rewritten in place; elsewhere each is a line of its own, for logs.
func startProgress(cfg *Config, name string, runs []*sessionRun) *progress {
	pr := &progress{done: make(chan struct{})}
	if cfg.Progress == nil {
		return pr
	}
	every := cfg.ProgressInterval
	if every <= 0 {
		every = 5 * time.Second
		if cfg.Terminal {
			every = 250 * time.Millisecond
		}
	}
	start := time.Now()
	pr.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var lastDone int64
		last := start
		for ended := false; !ended; {
			var now time.Time
			select {
			case now = <-t.C:
			case <-pr.done:
				now, ended = time.Now(), true
			}
			var sent, done int64
			for _, r := range runs {
				sent += r.sent.Load()
				done += r.done.Load()
			}
			rate := float64(done-lastDone) / now.Sub(last).Seconds()
			lastDone, last = done, now
			line := fmt.Sprintf("%s %5.1fs sent %d answered %d in flight %d %.0f tasks/s",
				name, now.Sub(start).Seconds(), sent, done, sent-done, rate)
			writeProgress(cfg.Progress, line, cfg.Terminal)
		}
		if cfg.Terminal {
			fmt.Fprintln(cfg.Progress)
		}
	})
	return pr
}

func writeProgress(w io.Writer, line string, terminal bool) {
	if terminal {
		fmt.Fprint(w, "\r\x1b[K"+line) // erase the previous line, rewrite it
		return
	}
	fmt.Fprintln(w, line)
}

func (pr *progress) stop() {
	close(pr.done)
	pr.wg.Wait()
}
