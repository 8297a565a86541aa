package loadgen

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bojand/ghz/runner"
	"golang.org/x/perf/benchfmt"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/alpcrun/alpcrun/core/stats"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

// The control-plane calls RunUnary measures.
const (
	// CallCreateSession is Queue.CreateSession on the queue manager; each
	// call creates a session, closed again after the point.
	CallCreateSession = "CreateSession"
	// CallGetSharedData is Cache.GetSharedData on the central cache, of
	// shared data of UnaryConfig.SharedDataSize bytes set before the point.
	CallGetSharedData = "GetSharedData"
)

// UnaryCalls lists the calls RunUnary knows.
func UnaryCalls() []string { return []string{CallCreateSession, CallGetSharedData} }

// UnaryConfig is a measurement of unary control-plane calls: a matrix of
// calls × concurrency × rate, each point a ghz run.
type UnaryConfig struct {
	Target
	AppID string
	// Calls are the calls to measure (see UnaryCalls).
	Calls []string
	// Concurrency is the number of callers (ghz -c).
	Concurrency []int
	// Rate caps the calls per second (ghz --rps); 0: as fast as the
	// callers go (a closed loop).
	Rate []int
	// Connections is the number of gRPC connections the callers share
	// (at most the concurrency).
	Connections int
	// Total is the number of measured calls per point, after WarmupCalls
	// that are made but not recorded; Duration, when set, bounds the
	// point in time instead, from the start of the first measured call
	// (the calls under way then finish and count).
	Total       int
	WarmupCalls int
	Duration    time.Duration
	// CallTimeout fails a call that takes longer.
	CallTimeout time.Duration
	// SharedDataSize is the payload that GetSharedData reads.
	SharedDataSize int
	// Reflection asks the server for the service descriptors (gRPC
	// reflection) instead of using those compiled into loadgen.
	Reflection bool
	Labels     []Label
}

// DefaultUnaryConfig measures both calls with 50 callers, 10000 calls each
// after 1000 of warm-up, reading 1 KiB of shared data.
func DefaultUnaryConfig() UnaryConfig {
	return UnaryConfig{
		Target:         DefaultTarget(),
		AppID:          "loadgen",
		Calls:          UnaryCalls(),
		Concurrency:    []int{50},
		Rate:           []int{0},
		Connections:    1,
		Total:          10000,
		WarmupCalls:    1000,
		CallTimeout:    20 * time.Second,
		SharedDataSize: 1 << 10,
	}
}

// Validate reports every problem at once.
func (c *UnaryConfig) Validate() error {
	var p problems
	c.Target.validate(&p)
	if c.AppID == "" {
		p.add("app id is empty")
	}
	if len(c.Calls) == 0 {
		p.add("calls: no value")
	}
	for _, call := range c.Calls {
		if call != CallCreateSession && call != CallGetSharedData {
			p.add("unknown call %q: want one of %v", call, UnaryCalls())
		}
		if call == CallGetSharedData && c.CentralCache == "" {
			p.add("%s needs the central cache address", call)
		}
	}
	atLeast(&p, "concurrency", c.Concurrency, 1, true)
	atLeast(&p, "rate", c.Rate, 0, true)
	if c.Connections < 1 {
		p.add("connections must be at least 1, got %d", c.Connections)
	}
	if c.Total < 0 || c.WarmupCalls < 0 || c.SharedDataSize < 0 {
		p.add("total, warm-up calls and shared data size must not be negative")
	}
	if c.Total == 0 && c.Duration <= 0 {
		p.add("a run needs a bound: total or duration")
	}
	if c.CallTimeout <= 0 {
		p.add("call timeout must be positive, got %v", c.CallTimeout)
	}
	return p.err()
}

// UnaryPoint is one ghz run.
type UnaryPoint struct {
	Call        string `json:"call"`
	Concurrency int    `json:"concurrency"`
	Rate        int    `json:"rps"`
}

// Name is the point's benchmark name, e.g.
// "LoadgenUnary/call=CreateSession/concurrency=50/rps=0".
func (p UnaryPoint) Name() string {
	return fmt.Sprintf("LoadgenUnary/call=%s/concurrency=%d/rps=%d", p.Call, p.Concurrency, p.Rate)
}

// Points expands the matrix: calls, then concurrency, then rate.
func (c *UnaryConfig) Points() []UnaryPoint {
	var out []UnaryPoint
	for _, call := range c.Calls {
		for _, n := range c.Concurrency {
			for _, r := range c.Rate {
				out = append(out, UnaryPoint{Call: call, Concurrency: n, Rate: r})
			}
		}
	}
	return out
}

// UnaryResult is what one point measured; warm-up calls are left out.
type UnaryResult struct {
	Name  string     `json:"name"`
	Point UnaryPoint `json:"point"`
	// Calls is the number of measured calls, Errors those that failed.
	Calls        int64          `json:"calls"`
	Errors       int64          `json:"errors"`
	StatusCodes  map[string]int `json:"status_codes"`
	ErrorSamples []string       `json:"error_samples,omitempty"`
	// Elapsed is from the start of the first measured call to the end of
	// the last; CallsPerSec is the successful calls over it.
	Elapsed     time.Duration `json:"elapsed_ns"`
	CallsPerSec float64       `json:"calls_per_sec"`
	// Latency is of the successful calls.
	Latency Latency `json:"latency"`
}

// UnaryReport is the result of RunUnary.
type UnaryReport struct {
	Labels []Label       `json:"labels"`
	Runs   []UnaryResult `json:"runs"`
}

// Write writes r in format f.
func (r *UnaryReport) Write(w io.Writer, f Format) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, r)
	case FormatBench:
		recs := make([]benchRecord, len(r.Runs))
		for i, run := range r.Runs {
			values := append([]benchfmt.Value{{Value: run.CallsPerSec, Unit: "calls/s"}}, run.Latency.benchValues()...)
			recs[i] = benchRecord{name: run.Name, iters: run.Calls, values: append(values,
				benchfmt.Value{Value: float64(run.Errors), Unit: "errors"})}
		}
		return writeBench(w, r.Labels, recs, map[string]string{"calls/s": "better=higher", "errors": "assume=exact"})
	}
	rows := make([][]string, len(r.Runs))
	var notes []string
	for i, run := range r.Runs {
		l := run.Latency
		rows[i] = []string{strings.TrimPrefix(run.Name, "LoadgenUnary/"), fmt.Sprint(run.Calls), fmt.Sprintf("%.0f", run.CallsPerSec),
			short(l.P50), short(l.P90), short(l.P99), short(l.P999), short(l.Max), fmt.Sprint(run.Errors)}
		for _, e := range run.ErrorSamples {
			notes = append(notes, rows[i][0]+": "+e)
		}
	}
	return writeTable(w, r.Labels, []string{"run", "calls", "calls/s", "p50", "p90", "p99", "p99.9", "max", "errors"}, rows, notes)
}

// RunUnary runs every point of cfg in turn with ghz and reports them. When
// ctx ends, the point under way stops, is reported, and RunUnary returns
// ctx's error with the report.
func RunUnary(ctx context.Context, cfg UnaryConfig) (UnaryReport, error) {
	if err := cfg.Validate(); err != nil {
		return UnaryReport{}, err
	}
	rep := UnaryReport{Labels: defaultLabels(cfg.QueueManager, cfg.Labels)}
	for _, p := range cfg.Points() {
		r, err := runUnaryPoint(ctx, &cfg, p)
		if err != nil {
			return rep, err
		}
		rep.Runs = append(rep.Runs, r)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	return rep, nil
}

func runUnaryPoint(ctx context.Context, cfg *UnaryConfig, p UnaryPoint) (UnaryResult, error) {
	// Ids of this point's sessions: unique per run, so that points and
	// concurrent loadgens do not collide.
	prefix := fmt.Sprintf("loadgen-%x", time.Now().UnixNano())
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()

	var method, host, data string
	switch p.Call {
	case CallCreateSession:
		method, host = "alpcrun.v1.Queue.CreateSession", cfg.QueueManager
		// ghz fills in the request number: one new session per call.
		data = fmt.Sprintf(`{"id": %q, "app": {"id": %q}}`, prefix+"-{{.RequestNumber}}", cfg.AppID)
	case CallGetSharedData:
		method, host = "alpcrun.v1.Cache.GetSharedData", cfg.CentralCache
		sid := prefix + "-shared"
		opts, err := cfg.sdkOptions()
		if err != nil {
			return UnaryResult{}, err
		}
		dctx, dcancel := context.WithTimeout(ctx, dialTimeout)
		defer dcancel()
		sd, err := client.DialSharedData(dctx, cfg.CentralCache, opts...)
		if err != nil {
			return UnaryResult{}, fmt.Errorf("loadgen: central cache: %w", err)
		}
		defer sd.Close()
		if err := sd.Set(dctx, sid, 1, payload(cfg.SharedDataSize), 0); err != nil {
			return UnaryResult{}, fmt.Errorf("loadgen: set shared data: %w", err)
		}
		defer sd.Delete(cctx, sid)
		data = fmt.Sprintf(`{"session_id": %q, "update_level": 1}`, sid)
	}

	// The measured calls begin once the connections are up and the
	// warm-up calls have started: Duration counts from then, so that a
	// slow start (a loaded machine) shortens nothing that is measured.
	measuring := make(chan struct{})
	var measuringOnce sync.Once
	opts, err := cfg.ghzOptions(p, data, func() { measuringOnce.Do(func() { close(measuring) }) })
	if err != nil {
		return UnaryResult{}, err
	}
	rc, err := runner.NewConfig(method, host, opts...)
	if err != nil {
		return UnaryResult{}, fmt.Errorf("loadgen: ghz: %w", err)
	}
	reqr, err := runner.NewRequester(rc)
	if err != nil {
		return UnaryResult{}, fmt.Errorf("loadgen: ghz: %w", err)
	}
	// runner.Run would also do this, but it changes GOMAXPROCS and traps
	// SIGINT; here ctx and cfg.Duration stop the requester.
	var stopOnce sync.Once
	stop := func(reason runner.StopReason) {
		stopOnce.Do(func() {
			// Stop sends on a channel that Run closes when it returns,
			// which may happen just before: that panic is harmless.
			defer func() { _ = recover() }()
			reqr.Stop(reason)
		})
	}
	done := make(chan struct{})
	go func() {
		var timeout <-chan time.Time
		if cfg.Duration > 0 {
			select {
			case <-measuring:
			case <-ctx.Done():
				stop(runner.ReasonCancel)
				return
			case <-done:
				return
			}
			t := time.NewTimer(cfg.Duration)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-ctx.Done():
			stop(runner.ReasonCancel)
		case <-timeout:
			stop(runner.ReasonTimeout)
		case <-done:
		}
	}()
	gr, err := reqr.Run()
	stopOnce.Do(func() {}) // no Stop after Run returned
	close(done)
	if p.Call == CallCreateSession && gr != nil {
		closeSessions(cctx, cfg, prefix, int(gr.Count)+cfg.WarmupCalls+p.Concurrency)
	}
	if err != nil {
		return UnaryResult{}, fmt.Errorf("loadgen: ghz: %w", err)
	}
	return unaryResult(p, gr), nil
}

// ghzOptions returns the options of point p; measuring is called as each
// call after the warm-up starts.
func (c *UnaryConfig) ghzOptions(p UnaryPoint, data string, measuring func()) ([]runner.Option, error) {
	opts := []runner.Option{
		runner.WithConcurrency(uint(p.Concurrency)),
		runner.WithConnections(uint(min(c.Connections, p.Concurrency))),
		runner.WithRPS(uint(p.Rate)),
		runner.WithDataFromJSON(data),
		runner.WithSkipFirst(uint(c.WarmupCalls)),
		runner.WithTimeout(c.CallTimeout),
		runner.WithDialTimeout(dialTimeout),
		// At the end of Duration the calls under way finish normally
		// instead of failing on closed connections.
		runner.WithDurationStopAction("wait"),
		runner.WithInsecure(!c.TLS),
	}
	if c.Duration > 0 {
		opts = append(opts, runner.WithRunDuration(c.Duration))
	} else {
		opts = append(opts, runner.WithTotalRequests(uint(c.Total+c.WarmupCalls)))
	}
	if c.TLS {
		opts = append(opts, runner.WithRootCertificate(c.CACert), runner.WithCertificate(c.CertFile, c.KeyFile))
	}
	md := metadata.MD{}
	if c.APIKey != "" {
		md.Set("api_key", c.APIKey)
		opts = append(opts, runner.WithReflectionMetadata(map[string]string{"api_key": c.APIKey}))
	}
	var started atomic.Int64
	opts = append(opts, runner.WithMetadataProvider(func(*runner.CallData) (*metadata.MD, error) {
		if started.Add(1) > int64(c.WarmupCalls) {
			measuring()
		}
		return &md, nil // only read by gRPC
	}))
	if !c.Reflection {
		set, err := protoset()
		if err != nil {
			return nil, err
		}
		opts = append(opts, runner.WithProtosetBinary(set))
	}
	return opts, nil
}

// protoset is the FileDescriptorSet of alpcrun.proto and its imports, as
// compiled into this binary.
func protoset() ([]byte, error) {
	var set descriptorpb.FileDescriptorSet
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(pb.File_alpcrun_v1_alpcrun_proto)
	b, err := proto.Marshal(&set)
	if err != nil {
		return nil, fmt.Errorf("loadgen: protoset: %w", err)
	}
	return b, nil
}

// closeSessions closes the sessions a CreateSession point created, ids
// prefix-0 to prefix-(n-1); n may overshoot, unknown ids are skipped.
func closeSessions(ctx context.Context, cfg *UnaryConfig, prefix string, n int) {
	conn, err := cfg.rawConn(cfg.QueueManager)
	if err != nil {
		return
	}
	defer conn.Close()
	q := pb.NewQueueClient(conn)
	ids := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range ids {
				_, _ = q.CloseSession(ctx, &pb.Session{Id: prefix + "-" + strconv.Itoa(i)})
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		ids <- i
	}
	close(ids)
	wg.Wait()
}

// unaryResult summarises ghz's report from its per-call details.
func unaryResult(p UnaryPoint, gr *runner.Report) UnaryResult {
	res := UnaryResult{Name: p.Name(), Point: p, StatusCodes: gr.StatusCodeDist}
	h := stats.NewHistogram()
	var first, last time.Time
	var ok int64
	seen := map[string]bool{}
	for _, d := range gr.Details {
		res.Calls++
		if begin := d.Timestamp.Add(-d.Latency); first.IsZero() || begin.Before(first) {
			first = begin
		}
		if d.Timestamp.After(last) {
			last = d.Timestamp
		}
		if d.Error != "" {
			res.Errors++
			if !seen[d.Error] && len(res.ErrorSamples) < maxErrorSamples {
				seen[d.Error] = true
				res.ErrorSamples = append(res.ErrorSamples, d.Error)
			}
			continue
		}
		ok++
		h.Record(d.Latency)
	}
	if last.After(first) {
		res.Elapsed = last.Sub(first)
		res.CallsPerSec = float64(ok) / res.Elapsed.Seconds()
	}
	res.Latency = latencyOf(h)
	return res
}
