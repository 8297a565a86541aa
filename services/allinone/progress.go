package allinone

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// How often the progress is drawn: a terminal bar is redrawn in place, a
// log or pipe gets a plain line now and then.
const (
	terminalInterval = 100 * time.Millisecond
	plainInterval    = time.Second
)

const barWidth = 30

// progress draws the demo's progress on w, which may be nil (no output).
type progress struct {
	w        io.Writer
	terminal bool
	total    int64 // paths
	start    time.Time
}

func (p *progress) interval() time.Duration {
	if p.terminal {
		return terminalInterval
	}
	return plainInterval
}

// draw shows paths priced by tasks done so far; final ends the bar's line.
func (p *progress) draw(paths, tasks int64, final bool) {
	if p.w == nil {
		return
	}
	el := time.Since(p.start)
	frac := float64(paths) / float64(p.total)
	rate := float64(tasks) / max(el.Seconds(), 1e-9)
	stats := fmt.Sprintf("%3.0f%% %s/%s paths %s tasks/s %.1fs", 100*frac, si(float64(paths)), si(float64(p.total)),
		si(rate), el.Seconds())
	if !p.terminal {
		fmt.Fprintf(p.w, "progress: %s\n", stats)
		return
	}
	fill := int(frac * barWidth)
	bar := strings.Repeat("=", fill)
	if fill < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-fill-1)
	}
	end := ""
	if final {
		end = "\n"
	}
	// \r returns to the line's start and \x1b[K clears what a longer
	// previous line left.
	fmt.Fprintf(p.w, "\r\x1b[K[%s] %s%s", bar, stats, end)
}

// si writes x with an SI suffix and at most one decimal: 950, 4.3k, 10M.
func si(x float64) string {
	suffix := ""
	for _, s := range []string{"k", "M", "G"} {
		if x < 999.95 {
			break
		}
		x /= 1000
		suffix = s
	}
	return strings.TrimSuffix(strconv.FormatFloat(x, 'f', 1, 64), ".0") + suffix
}
