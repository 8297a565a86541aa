package main

import (
	"context"
	"math"
	"strconv"
	"testing"

	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

func TestHandlerFor(t *testing.T) {
	for _, bad := range []string{"", "nope", "sleep:", "sleep:-1s", "sleep:abc"} {
		if _, err := handlerFor(bad); err == nil {
			t.Errorf("handlerFor(%q) accepted", bad)
		}
	}
	ctx := context.Background()
	for _, name := range []string{"echo", "sleep:0s"} {
		h, err := handlerFor(name)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := h(ctx, worker.Task{Payload: []byte("hi")}); err != nil || string(out) != "hi" {
			t.Errorf("%s: %q, %v", name, out, err)
		}
	}
}

func TestPi(t *testing.T) {
	const n = 200000
	task := worker.Task{SessionID: "s", ID: "1", Payload: []byte(strconv.Itoa(n))}
	out, err := pi(context.Background(), task)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := pi(context.Background(), task)
	if string(out) != string(again) {
		t.Fatalf("a redelivered task gave %s then %s", out, again)
	}
	hits, err := strconv.ParseUint(string(out), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// 4·hits/n has a standard deviation of about 0.004 at this n.
	if est := 4 * float64(hits) / n; math.Abs(est-math.Pi) > 0.05 {
		t.Fatalf("estimate %v", est)
	}
	for _, bad := range []string{"", "0", "-3", "x", strconv.Itoa(maxSamples + 1)} {
		if _, err := pi(context.Background(), worker.Task{Payload: []byte(bad)}); err == nil {
			t.Errorf("payload %q accepted", bad)
		}
	}
}
