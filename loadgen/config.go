package loadgen

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alpcrun/alpcrun/services/sdk"
)

// DefaultInflight is the closed-loop window used when neither Inflight nor
// Rate is given.
const DefaultInflight = 1000

// Target is where the cluster is and how to reach it.
type Target struct {
	// QueueManager is the queue manager's gRPC address.
	QueueManager string
	// CentralCache is the central cache's address, used to set shared data
	// (and, in RunUnary, to read it).
	CentralCache string
	// TLS dials with TLS, verifying the servers with CACert (empty: the
	// system roots) and presenting CertFile/KeyFile when both are set.
	TLS                       bool
	CACert, CertFile, KeyFile string
	// APIKey goes in metadata "api_key" on every call; empty sends none.
	APIKey string
}

// DefaultTarget reads the addresses and the API key from the environment,
// with package sdk's defaults.
func DefaultTarget() Target {
	return Target{
		QueueManager: sdk.QueueManagerAddr(""),
		CentralCache: sdk.CentralCacheAddr(""),
		APIKey:       os.Getenv(sdk.EnvAPIKey),
	}
}

func (t *Target) validate(p *problems) {
	if t.QueueManager == "" {
		p.add("queue manager address is empty")
	}
	if !t.TLS && (t.CACert != "" || t.CertFile != "" || t.KeyFile != "") {
		p.add("ca-cert, cert and key need tls")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add("cert and key go together")
	}
}

// Label is one configuration line of the benchmark format ("key: value"),
// e.g. commit, target or queue, which benchstat shows and can group by.
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Config is a load test: a target, a matrix of points and how each point is
// bounded.
type Config struct {
	Target
	// AppID is the sessions' application id.
	AppID string

	// The matrix. Every point combines one value of each list; Inflight
	// values give closed-loop points, Rate values open-loop ones (both may
	// be given). Empty Inflight and Rate mean Inflight {DefaultInflight}.
	Sessions []int
	// Batch is the number of tasks per batch.
	Batch []int
	// Payload is the size of each task's payload in bytes.
	Payload []int
	// SharedData is the size of each session's shared data in bytes; 0
	// runs without. With shared data, each session sets it once in the
	// central cache at level 1 and every batch requires that level.
	SharedData []int
	// Inflight is the closed-loop window: unanswered tasks per session.
	Inflight []int
	// Rate is the open-loop target, in tasks/s over all sessions.
	Rate []float64

	// TaskDuration is what each task takes on the workers (they must be
	// started with --task sleep:TaskDuration); it only labels the runs.
	TaskDuration time.Duration

	// Count is the number of passes over the matrix (0: one). Each pass
	// runs every point once, so that a slow spell of a shared machine
	// hits every point alike, and benchstat gets Count samples per point.
	Count int

	// Tasks is the number of measured tasks per point (over all
	// sessions); 0: bounded by Duration only.
	Tasks int
	// Duration bounds the measured part of each point, counted from the
	// first measured send; 0: bounded by Tasks only.
	Duration time.Duration
	// Warmup and WarmupTasks are sent before the measured tasks and not
	// recorded.
	Warmup      time.Duration
	WarmupTasks int
	// DrainTimeout is how long a point waits for its last results once it
	// stopped sending; a session also stops sending when a batch waits
	// that long to be taken by its stream, or its closed-loop window stays
	// full that long.
	DrainTimeout time.Duration

	// Labels are written as configuration lines in the benchmark format
	// and copied into the Report.
	Labels []Label

	// Progress, when set, receives a progress line every ProgressInterval;
	// with Terminal the line is rewritten in place.
	Progress         io.Writer
	ProgressInterval time.Duration
	Terminal         bool
}

// DefaultConfig is one closed-loop point: 1 session, batches of 100 tasks of
// 64 bytes, 1000 in flight, 100000 tasks after 10000 of warm-up.
func DefaultConfig() Config {
	return Config{
		Target:       DefaultTarget(),
		AppID:        "loadgen",
		Sessions:     []int{1},
		Batch:        []int{100},
		Payload:      []int{64},
		SharedData:   []int{0},
		Tasks:        100000,
		WarmupTasks:  10000,
		DrainTimeout: 30 * time.Second,
	}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var p problems
	c.Target.validate(&p)
	if c.AppID == "" {
		p.add("app id is empty")
	}
	atLeast(&p, "sessions", c.Sessions, 1, true)
	atLeast(&p, "batch", c.Batch, 1, true)
	atLeast(&p, "payload", c.Payload, 0, true)
	atLeast(&p, "shared data size", c.SharedData, 0, true)
	atLeast(&p, "inflight", c.Inflight, 1, false)
	for _, b := range c.Batch {
		for _, w := range c.Inflight {
			if w < b {
				p.add("inflight %d is below batch %d: no batch could be sent", w, b)
			}
		}
	}
	for _, r := range c.Rate {
		if !(r > 0) {
			p.add("rate must be positive, got %v", r)
		}
	}
	if len(c.SharedData) > 0 && c.CentralCache == "" {
		for _, s := range c.SharedData {
			if s > 0 {
				p.add("shared data needs the central cache address")
				break
			}
		}
	}
	if c.Count < 0 {
		p.add("count must not be negative, got %d", c.Count)
	}
	if c.Tasks < 0 || c.WarmupTasks < 0 {
		p.add("tasks and warm-up tasks must not be negative")
	}
	if c.Duration < 0 || c.Warmup < 0 || c.TaskDuration < 0 {
		p.add("durations must not be negative")
	}
	if c.Tasks == 0 && c.Duration == 0 {
		p.add("a run needs a bound: tasks or duration")
	}
	if c.DrainTimeout <= 0 {
		p.add("drain timeout must be positive, got %v", c.DrainTimeout)
	}
	return p.err()
}

// atLeast checks a list of the matrix; required lists need a value.
func atLeast(p *problems, name string, vs []int, least int, required bool) {
	if len(vs) == 0 && required {
		p.add("%s: no value", name)
	}
	for _, v := range vs {
		if v < least {
			p.add("%s must be at least %d, got %d", name, least, v)
		}
	}
}

// Point is one run of the matrix.
type Point struct {
	Sessions   int `json:"sessions"`
	Batch      int `json:"batch"`
	Payload    int `json:"payload"`
	SharedData int `json:"shared_data"`
	// Inflight is set for a closed-loop point, Rate for an open-loop one.
	Inflight int     `json:"inflight,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
	// TaskDuration labels the point (Config.TaskDuration).
	TaskDuration time.Duration `json:"task_duration_ns,omitempty"`
}

// Open reports whether p is an open-loop point.
func (p Point) Open() bool { return p.Rate > 0 }

// Mode is "open" or "closed".
func (p Point) Mode() string {
	if p.Open() {
		return "open"
	}
	return "closed"
}

// Name is the point's benchmark name as key=value segments, e.g.
// "Loadgen/sessions=1/batch=100/payload=64/shared=0/inflight=1000/mode=closed";
// taskdur= is added when the tasks take time.
func (p Point) Name() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Loadgen/sessions=%d/batch=%d/payload=%d/shared=%d", p.Sessions, p.Batch, p.Payload, p.SharedData)
	if p.TaskDuration > 0 {
		fmt.Fprintf(&b, "/taskdur=%v", p.TaskDuration)
	}
	if p.Open() {
		fmt.Fprintf(&b, "/rate=%s", strconv.FormatFloat(p.Rate, 'f', -1, 64))
	} else {
		fmt.Fprintf(&b, "/inflight=%d", p.Inflight)
	}
	b.WriteString("/mode=" + p.Mode())
	return b.String()
}

// Points expands the matrix in a fixed order: sessions, batch, payload and
// shared data vary slowest to fastest, and for each of their combinations
// the closed-loop windows come first, then the open-loop rates.
func (c *Config) Points() []Point {
	inflight := c.Inflight
	if len(inflight) == 0 && len(c.Rate) == 0 {
		inflight = []int{DefaultInflight}
	}
	var out []Point
	for _, s := range c.Sessions {
		for _, b := range c.Batch {
			for _, pl := range c.Payload {
				for _, sd := range c.SharedData {
					base := Point{Sessions: s, Batch: b, Payload: pl, SharedData: sd, TaskDuration: c.TaskDuration}
					for _, w := range inflight {
						p := base
						p.Inflight = w
						out = append(out, p)
					}
					for _, r := range c.Rate {
						p := base
						p.Rate = r
						out = append(out, p)
					}
				}
			}
		}
	}
	return out
}

// ParseInts parses a comma-separated list such as "1,10,100". Sizes may
// carry a binary suffix: "4Ki" is 4096, "1Mi" 1048576.
func ParseInts(s string) ([]int, error) {
	return parseList(s, func(f string) (int, error) {
		mult := 1
		for _, u := range []struct {
			suffix string
			mult   int
		}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}} {
			if rest, ok := strings.CutSuffix(f, u.suffix); ok {
				f, mult = rest, u.mult
				break
			}
		}
		v, err := strconv.Atoi(f)
		return v * mult, err
	})
}

// ParseFloats parses a comma-separated list of numbers, such as rates.
func ParseFloats(s string) ([]float64, error) {
	return parseList(s, func(f string) (float64, error) { return strconv.ParseFloat(f, 64) })
}

// ParseStrings splits a comma-separated list, dropping empty items.
func ParseStrings(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range ParseStrings(s) {
		v, err := parse(f)
		if err != nil {
			return nil, fmt.Errorf("loadgen: bad list item %q in %q", f, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// problems collects every configuration problem, for one error.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New("loadgen: bad config: " + strings.Join(p, "; "))
}
