package main

import (
	"fmt"
	"slices"
	"time"
)

// ledger counts the results of the tasks a run submitted, to prove that each
// arrives exactly once, and times the ones that needed a redelivery.
type ledger struct {
	want   map[string]string // task id -> payload submitted
	got    map[string]int    // task id -> results received
	extra  []string          // results for ids never submitted
	badPay []string          // results whose payload is not the task's

	redelivered                       int
	maxAttempts                       uint32
	firstRedelivered, lastRedelivered time.Time
	received                          int
}

func newLedger(ids, payloads []string) *ledger {
	l := &ledger{want: make(map[string]string, len(ids)), got: make(map[string]int, len(ids))}
	for i, id := range ids {
		l.want[id] = payloads[i]
	}
	return l
}

// add records one result received at t; checkPayload compares it with the
// payload submitted (tasks that echo it).
func (l *ledger) add(id string, payload []byte, attempts uint32, t time.Time, checkPayload bool) {
	l.received++
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
		l.redelivered++
		if l.firstRedelivered.IsZero() {
			l.firstRedelivered = t
		}
		l.lastRedelivered = t
	}
	l.maxAttempts = max(l.maxAttempts, attempts)
}

// check reports every way the run missed "each result exactly once".
func (l *ledger) check() error {
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
		return fmt.Errorf("clustertest: %v", errs)
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
