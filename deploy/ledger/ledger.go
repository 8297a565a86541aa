// Package ledger counts the results of the tasks a cluster run submitted, to
// prove that each arrives exactly once; deploy/clustertest and deploy/faults
// judge their runs with it.
package ledger

import (
	"fmt"
	"slices"
	"time"
)

// Ledger is not safe for concurrent use.
type Ledger struct {
	want   map[string]string // task id -> payload submitted
	got    map[string]int    // task id -> results received
	extra  []string          // results for ids never submitted
	badPay []string          // results whose payload is not the task's

	// Received counts every result; Redelivered those that took more than
	// one attempt, the first and last of them arriving at
	// FirstRedelivered and LastRedelivered.
	Received, Redelivered             int
	MaxAttempts                       uint32
	FirstRedelivered, LastRedelivered time.Time
	// Prefix names the program in Check's error.
	Prefix string
}

// New expects one result for each of ids, carrying payloads[i] when the
// tasks echo their payload.
func New(prefix string, ids, payloads []string) *Ledger {
	l := &Ledger{want: make(map[string]string, len(ids)), got: make(map[string]int, len(ids)), Prefix: prefix}
	for i, id := range ids {
		l.want[id] = payloads[i]
	}
	return l
}

// Add records one result received at t; checkPayload compares it with the
// payload submitted (tasks that echo it).
func (l *Ledger) Add(id string, payload []byte, attempts uint32, t time.Time, checkPayload bool) {
	l.Received++
	p, ok := l.want[id]
	if !ok {
		l.extra = append(l.extra, id)
		return
	}
	l.got[id]++
	if checkPayload && string(payload) != p {
		l.badPay = append(l.badPay, id)
	}
	if attempts > 1 {
		l.Redelivered++
		if l.FirstRedelivered.IsZero() {
			l.FirstRedelivered = t
		}
		l.LastRedelivered = t
	}
	l.MaxAttempts = max(l.MaxAttempts, attempts)
}

// Duplicates is the number of results beyond the first for a task.
func (l *Ledger) Duplicates() (dup int) {
	for _, n := range l.got {
		dup += max(0, n-1)
	}
	return dup
}

// Lost is the number of tasks without a result.
func (l *Ledger) Lost() int { return len(l.want) - len(l.got) }

// Check reports every way the run missed "each result exactly once".
func (l *Ledger) Check() error {
	var missing, dup []string
	for id := range l.want {
		switch n := l.got[id]; {
		case n == 0:
			missing = append(missing, id)
		case n > 1:
			dup = append(dup, fmt.Sprintf("%s×%d", id, n))
		}
	}
	slices.Sort(missing)
	slices.Sort(dup)
	var errs []string
	if len(missing) > 0 {
		errs = append(errs, fmt.Sprintf("%d results missing %s", len(missing), head(missing)))
	}
	if len(dup) > 0 {
		errs = append(errs, fmt.Sprintf("%d results duplicated %s", len(dup), head(dup)))
	}
	if len(l.extra) > 0 {
		errs = append(errs, fmt.Sprintf("%d results for unknown tasks %s", len(l.extra), head(l.extra)))
	}
	if len(l.badPay) > 0 {
		errs = append(errs, fmt.Sprintf("%d results with a wrong payload %s", len(l.badPay), head(l.badPay)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %v", l.Prefix, errs)
	}
	return nil
}

// head shows the first few ids of a list.
func head(ids []string) []string {
	if len(ids) > 5 {
		return append(slices.Clip(ids[:5]), "...")
	}
	return ids
}
