package main

import (
	"strings"
	"testing"
	"time"
)

func TestLedger(t *testing.T) {
	ids := []string{"a", "b", "c"}
	pays := []string{"pa", "pb", "pc"}
	now := time.Now()

	l := newLedger(ids, pays)
	l.add("a", []byte("pa"), 1, now, true)
	l.add("b", []byte("pb"), 2, now, true)
	l.add("c", []byte("pc"), 1, now, true)
	if err := l.check(); err != nil {
		t.Fatalf("each result once: %v", err)
	}
	if l.redelivered != 1 || l.maxAttempts != 2 {
		t.Errorf("redelivered %d, max attempts %d; want 1, 2", l.redelivered, l.maxAttempts)
	}

	l = newLedger(ids, pays)
	l.add("a", []byte("pa"), 1, now, true)
	l.add("a", []byte("pa"), 2, now, true)
	l.add("b", []byte("wrong"), 1, now, true)
	l.add("zz", nil, 1, now, true)
	err := l.check()
	if err == nil {
		t.Fatal("check passed a run with a missing, a duplicated, an unknown and a wrong result")
	}
	for _, want := range []string{"1 results missing [c]", "1 results duplicated [a×2]", "unknown tasks [zz]", "wrong payload [b]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
