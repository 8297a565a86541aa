package loadgen

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseLists(t *testing.T) {
	ints, err := ParseInts("1, 10,100,4Ki,1Mi")
	if err != nil || !slices.Equal(ints, []int{1, 10, 100, 4096, 1 << 20}) {
		t.Fatalf("ParseInts = %v, %v", ints, err)
	}
	if _, err := ParseInts("1,x"); err == nil {
		t.Fatal("ParseInts accepted x")
	}
	fs, err := ParseFloats("500,2.5e3")
	if err != nil || !slices.Equal(fs, []float64{500, 2500}) {
		t.Fatalf("ParseFloats = %v, %v", fs, err)
	}
	if got := ParseStrings("a,,b ,"); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("ParseStrings = %q", got)
	}
	if l, err := ParseLabel("queue=lockfree"); err != nil || l != (Label{"queue", "lockfree"}) {
		t.Fatalf("ParseLabel = %v, %v", l, err)
	}
	if _, err := ParseLabel("no value"); err == nil {
		t.Fatal("ParseLabel accepted a label without =")
	}
}

// TestPoints: list flags expand to their cartesian product, closed-loop
// windows before open-loop rates.
func TestPoints(t *testing.T) {
	c := DefaultConfig()
	c.Sessions = []int{1, 4}
	c.Batch = []int{1, 10, 100}
	c.Payload = []int{64, 4096}
	c.SharedData = []int{0}
	c.Inflight = []int{1000}
	c.Rate = []float64{5000, 10000}
	c.TaskDuration = 10 * time.Millisecond
	ps := c.Points()
	if len(ps) != 2*3*2*1*(1+2) {
		t.Fatalf("%d points", len(ps))
	}
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name()] {
			t.Fatalf("point %s twice", p.Name())
		}
		seen[p.Name()] = true
	}
	want := []string{
		"Loadgen/sessions=1/batch=1/payload=64/shared=0/taskdur=10ms/inflight=1000/mode=closed",
		"Loadgen/sessions=1/batch=1/payload=64/shared=0/taskdur=10ms/rate=5000/mode=open",
		"Loadgen/sessions=1/batch=1/payload=64/shared=0/taskdur=10ms/rate=10000/mode=open",
		"Loadgen/sessions=1/batch=1/payload=4096/shared=0/taskdur=10ms/inflight=1000/mode=closed",
	}
	for i, w := range want {
		if ps[i].Name() != w {
			t.Errorf("point %d is %s, want %s", i, ps[i].Name(), w)
		}
	}
	if last := ps[len(ps)-1]; last.Sessions != 4 || last.Batch != 100 || last.Payload != 4096 || last.Rate != 10000 {
		t.Errorf("last point %+v", last)
	}

	c.Inflight, c.Rate = nil, nil
	if ps := c.Points(); len(ps) != 12 || ps[0].Inflight != DefaultInflight || ps[0].Mode() != "closed" {
		t.Fatalf("without inflight or rate: %d points, first %+v", len(ps), ps[0])
	}
}

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	c.Batch = []int{0, 100}
	c.Inflight = []int{50}
	c.Rate = []float64{-1}
	c.Tasks, c.Duration = 0, 0
	c.CertFile = "x"
	c.Count = -1
	err := c.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"batch must be at least 1", "inflight 50 is below batch 100", "rate must be positive", "needs a bound", "need tls", "count must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestIDRoundTrip(t *testing.T) {
	pt := &point{p: Point{Batch: 3}}
	r := &sessionRun{next: 41, measuredQuota: -1}
	tasks, measured := pt.batch(r, nil, 1234*time.Microsecond)
	if len(tasks) != 3 || measured != 3 {
		t.Fatalf("%d tasks, %d measured", len(tasks), measured)
	}
	seq, at, ok := parseID(tasks[2].ID)
	if !ok || seq != 43 || at != 1234*time.Microsecond {
		t.Fatalf("parseID(%q) = %d, %v, %v", tasks[2].ID, seq, at, ok)
	}
	for _, bad := range []string{"", "12", "a.1", "1.b", "-1.5"} {
		if _, _, ok := parseID(bad); ok {
			t.Errorf("parseID(%q) accepted", bad)
		}
	}
}

func TestShort(t *testing.T) {
	for d, want := range map[time.Duration]string{
		999:                     "999ns",
		1234567:                 "1.23ms",
		12345678:                "12.3ms",
		1500 * time.Millisecond: "1.5s",
		0:                       "0s",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%d) = %s, want %s", d, got, want)
		}
	}
}
