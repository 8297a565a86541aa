// Package catalog holds the example task kinds that cmd/worker and the
// workers of `alpcrun up` run, so that both know the same ones:
//
//	echo        the result is the input
//	sleep:DUR   waits DUR (a Go duration, e.g. 10ms), then echoes
//	pi          Monte Carlo estimate of π: the input is the number of
//	            samples as decimal text ("1000000"); the result the number
//	            of samples inside the unit quarter circle, as decimal text,
//	            so π ≈ 4·Σhits/Σsamples
//	european    Monte Carlo price of a European call (formats in
//	            european.go); the session's shared data is a JSON Market
//
// A task names its kind with a header line in its payload, "alpcrun-task
// KIND\n" followed by the input (see Payload); a payload without the header
// is the input of the kind the worker was started with (its --task), so that
// loadgen's raw payloads keep working. A kind the catalog does not know
// fails the task with "unknown task", so it is dead-lettered: a worker never
// answers a task it did not run with a result.
//
// Every kind is deterministic: a redelivered task gives the same answer.
package catalog

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// Header starts a payload that names its task kind: Header, the kind, a
// newline, then the kind's input.
const Header = "alpcrun-task "

// Kinds lists the kinds, for usage texts.
const Kinds = "echo, sleep:DURATION (e.g. sleep:10ms), pi or european"

// Payload returns the payload of a task of kind with input.
func Payload(kind string, input []byte) []byte {
	p := make([]byte, 0, len(Header)+len(kind)+1+len(input))
	p = append(p, Header...)
	p = append(p, kind...)
	p = append(p, '\n')
	return append(p, input...)
}

// Lookup returns the handler of kind; its tasks' payloads are the input
// alone.
func Lookup(kind string) (worker.Handler, error) {
	switch {
	case kind == "echo":
		return echo, nil
	case kind == "pi":
		return pi, nil
	case kind == "european":
		return priceTask, nil
	case strings.HasPrefix(kind, "sleep:"):
		d, err := time.ParseDuration(strings.TrimPrefix(kind, "sleep:"))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("catalog: bad task %q: want sleep:DURATION, e.g. sleep:10ms", kind)
		}
		return sleep(d), nil
	}
	return nil, fmt.Errorf("catalog: unknown task %q: want %s", kind, Kinds)
}

// Handler returns the handler of a worker started with kind: it runs a task
// of the kind its payload names, and a payload without Header as kind.
// Pass its shared data through Decode (worker.WithDecoder).
func Handler(kind string) (worker.Handler, error) {
	def, err := Lookup(kind)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, t worker.Task) ([]byte, error) {
		if !bytes.HasPrefix(t.Payload, []byte(Header)) {
			return def(ctx, t)
		}
		line, input, ok := bytes.Cut(t.Payload[len(Header):], []byte{'\n'})
		if !ok {
			return nil, fmt.Errorf("catalog: task header without a newline")
		}
		h, err := Lookup(string(line))
		if err != nil {
			return nil, err
		}
		t.Payload = input
		return h(ctx, t)
	}, nil
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
