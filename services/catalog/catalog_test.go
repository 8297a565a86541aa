package catalog

import (
	"bytes"
	"context"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

func TestLookup(t *testing.T) {
	for _, bad := range []string{"", "nope", "sleep:", "sleep:-1s", "sleep:abc"} {
		if _, err := Lookup(bad); err == nil {
			t.Errorf("Lookup(%q) accepted", bad)
		}
	}
	ctx := context.Background()
	for _, name := range []string{"echo", "sleep:0s"} {
		h, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := h(ctx, worker.Task{Payload: []byte("hi")}); err != nil || string(out) != "hi" {
			t.Errorf("%s: %q, %v", name, out, err)
		}
	}
}

// TestHandlerDispatches checks that a worker runs the kind a payload names,
// its own kind for a payload that names none, and fails a task of a kind it
// does not know rather than answering it.
func TestHandlerDispatches(t *testing.T) {
	ctx := context.Background()
	h, err := Handler("echo")
	if err != nil {
		t.Fatal(err)
	}
	run := func(p []byte) (string, error) {
		out, err := h(ctx, worker.Task{SessionID: "s", ID: "1", Payload: p})
		return string(out), err
	}
	if out, err := run([]byte("raw")); err != nil || out != "raw" {
		t.Errorf("raw payload: %q, %v", out, err)
	}
	if out, err := run(Payload("sleep:0s", []byte("x"))); err != nil || out != "x" {
		t.Errorf("sleep: %q, %v", out, err)
	}
	want, _ := pi(ctx, worker.Task{SessionID: "s", ID: "1", Payload: []byte("1000")})
	if out, err := run(Payload("pi", []byte("1000"))); err != nil || out != string(want) {
		t.Errorf("pi: %q, %v; want %q", out, err, want)
	}
	for _, p := range [][]byte{Payload("frobnicate", []byte("1000")), []byte(Header + "pi")} {
		if out, err := run(p); err == nil {
			t.Errorf("payload %q answered %q", p, out)
		}
	}
	if _, err := run(Payload("frobnicate", nil)); err == nil || !strings.Contains(err.Error(), "unknown task") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := Handler("nope"); err == nil {
		t.Error("Handler(nope) accepted")
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
	for _, bad := range []string{"", "0", "-3", "x", strconv.Itoa(MaxSamples + 1)} {
		if _, err := pi(context.Background(), worker.Task{Payload: []byte(bad)}); err == nil {
			t.Errorf("payload %q accepted", bad)
		}
	}
}

func TestBlackScholesKnownValues(t *testing.T) {
	for _, c := range []struct {
		m    Market
		want float64
	}{
		{Market{Spot: 100, Strike: 100, Rate: 0.05, Vol: 0.2, Maturity: 1}, 10.4506},
		// Hull, Options, Futures and Other Derivatives, example 15.6.
		{Market{Spot: 42, Strike: 40, Rate: 0.1, Vol: 0.2, Maturity: 0.5}, 4.7594},
	} {
		if got := BlackScholes(c.m); math.Abs(got-c.want) > 5e-5 {
			t.Errorf("BlackScholes(%+v) = %.6f, want %.4f", c.m, got, c.want)
		}
	}
}

// TestPriceTask checks the task's determinism (a redelivered task gives the
// same answer) and its refusals.
func TestPriceTask(t *testing.T) {
	ctx := context.Background()
	m := Market{Spot: 100, Strike: 100, Rate: 0.05, Vol: 0.2, Maturity: 1}
	run := func(sd any, payload []byte) ([]byte, error) {
		return priceTask(ctx, worker.Task{SharedData: sd, Payload: payload})
	}
	task := PricingTask{Seed: 1, Index: 7, Paths: 1000}
	a, err := run(m, task.Encode())
	if err != nil {
		t.Fatal(err)
	}
	sd, _ := Decode([]byte(`{"spot":100,"strike":100,"rate":0.05,"vol":0.2,"maturity":1}`))
	b, _ := run(sd, task.Encode())
	task.Index++
	c, _ := run(m, task.Encode())
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatalf("same task gave %x and %x; next task %x", a, b, c)
	}
	sum, sumSq, err := DecodeResult(a)
	if err != nil || !(sum > 0) || !(sumSq > sum*sum/500) {
		t.Fatalf("result sums %v, %v, %v", sum, sumSq, err)
	}
	badMarket, _ := Decode([]byte(`{"spot":100,"strike":100,"rate":0.05,"vol":0,"maturity":1}`))
	for name, c := range map[string]struct {
		sd      any
		payload []byte
	}{
		"no market":       {nil, task.Encode()},
		"zero volatility": {badMarket, task.Encode()},
		"short":           {m, task.Encode()[:20]},
		"odd paths":       {m, PricingTask{Paths: 3}.Encode()},
		"no paths":        {m, PricingTask{}.Encode()},
	} {
		if _, err := run(c.sd, c.payload); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
