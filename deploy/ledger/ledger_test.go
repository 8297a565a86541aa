package ledger

import (
	"strings"
	"testing"
	"time"
)

func TestLedger(t *testing.T) {
	ids := []string{"a", "b", "c"}
	pays := []string{"pa", "pb", "pc"}
	now := time.Now()

	l := New("test", ids, pays)
	l.Add("a", []byte("pa"), 1, now, true)
	l.Add("b", []byte("pb"), 2, now, true)
	l.Add("c", []byte("pc"), 1, now, true)
	if err := l.Check(); err != nil {
		t.Fatalf("each result once: %v", err)
	}
	if l.Redelivered != 1 || l.MaxAttempts != 2 || l.Duplicates() != 0 || l.Lost() != 0 {
		t.Errorf("redelivered %d, max attempts %d, duplicates %d, lost %d; want 1, 2, 0, 0", l.Redelivered, l.MaxAttempts, l.Duplicates(), l.Lost())
	}

	l = New("test", ids, pays)
	l.Add("a", []byte("pa"), 1, now, true)
	l.Add("a", []byte("pa"), 2, now, true)
	l.Add("b", []byte("wrong"), 1, now, true)
	l.Add("zz", nil, 1, now, true)
	err := l.Check()
	if err == nil {
		t.Fatal("check passed a run with a missing, a duplicated, an unknown and a wrong result")
	}
	for _, want := range []string{"test: ", "1 results missing [c]", "1 results duplicated [a×2]", "unknown tasks [zz]", "wrong payload [b]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if l.Duplicates() != 1 || l.Lost() != 1 {
		t.Errorf("duplicates %d, lost %d; want 1, 1", l.Duplicates(), l.Lost())
	}
}
