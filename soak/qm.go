package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/queuemanager"
)

// Snapshot is the queue manager process's memory and counters at one
// moment, as read inside that process.
type Snapshot struct {
	// RSS and HWM are VmRSS and VmHWM of /proc/self/status, in bytes:
	// everything resident, not only the Go heap.
	RSS, HWM int64
	// From runtime.MemStats.
	HeapAlloc, HeapInuse, HeapSys, StackInuse, Sys uint64
	Goroutines                                     int
	// Tasks is alpcrun_tasks_total by outcome; Workers alpcrun_workers by
	// state; Sessions alpcrun_sessions.
	Tasks    map[string]float64
	Workers  map[string]float64
	Sessions float64
	// Sched is the queue manager's own alpcrun_scheduler_pass_seconds and
	// alpcrun_scheduler_events_total.
	Sched SchedStats
}

// SchedStats are the scheduler loop's passes: how many, their total time,
// the events they handled, and the upper bound of the histogram bucket
// that holds the 99th percentile pass.
type SchedStats struct {
	Passes  uint64
	Seconds float64
	Events  float64
	P99Le   float64
}

// PerEvent is the mean time per event over the passes.
func (s SchedStats) PerEvent() time.Duration {
	if s.Events == 0 {
		return 0
	}
	return time.Duration(s.Seconds / s.Events * float64(time.Second))
}

// ServeQM runs a queue manager configured by opts on 127.0.0.1 until ctx
// ends or in closes (the parent went away), with an HTTP side whose
// /snapshot returns a Snapshot as JSON (?gc=1 first runs a GC, which moves
// sync.Pool caches to their victim cache, then debug.FreeOSMemory, a
// second GC that drops them and returns freed pages to the OS, so that RSS
// shows what is retained rather than what the scavenger has not got to
// yet) and /debug/pprof/heap a heap profile. Once serving it writes
// "qm grpc=ADDR http=ADDR" to out.
func ServeQM(ctx context.Context, opts queuemanager.Options, in io.Reader, out io.Writer) error {
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	qm, err := queuemanager.New(opts)
	if err != nil {
		return err
	}
	defer qm.Close()
	g := grpc.NewServer(grpctune.ServerOptions()...)
	qm.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		lis.Close()
		return fmt.Errorf("soak: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /snapshot", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC() // sync.Pool caches survive one GC in their victim cache
			debug.FreeOSMemory()
		}
		s, err := takeSnapshot(reg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(s)
	})
	mux.Handle("GET /debug/pprof/heap", pprof.Handler("heap"))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.Serve(lis) }()
	go func() { _ = hs.Serve(hl) }()
	defer hs.Close()
	defer g.Stop()

	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, in)
		close(gone)
	}()
	if _, err := fmt.Fprintf(out, "qm grpc=%s http=%s\n", lis.Addr(), hl.Addr()); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-gone:
	}
	return nil
}

func takeSnapshot(reg *prometheus.Registry) (Snapshot, error) {
	var s Snapshot
	var err error
	if s.RSS, s.HWM, err = procStatus(); err != nil {
		return s, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.HeapAlloc, s.HeapInuse, s.HeapSys, s.StackInuse, s.Sys = ms.HeapAlloc, ms.HeapInuse, ms.HeapSys, ms.StackInuse, ms.Sys
	s.Goroutines = runtime.NumGoroutine()
	mfs, err := reg.Gather()
	if err != nil {
		return s, err
	}
	s.Tasks, s.Workers = map[string]float64{}, map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			label := ""
			if l := m.GetLabel(); len(l) > 0 {
				label = l[0].GetValue()
			}
			switch mf.GetName() {
			case "alpcrun_tasks_total":
				s.Tasks[label] = m.GetCounter().GetValue()
			case "alpcrun_workers":
				s.Workers[label] = m.GetGauge().GetValue()
			case "alpcrun_sessions":
				s.Sessions = m.GetGauge().GetValue()
			case "alpcrun_scheduler_events_total":
				s.Sched.Events = m.GetCounter().GetValue()
			case "alpcrun_scheduler_pass_seconds":
				h := m.GetHistogram()
				s.Sched.Passes, s.Sched.Seconds = h.GetSampleCount(), h.GetSampleSum()
				for _, b := range h.GetBucket() {
					if float64(b.GetCumulativeCount()) >= 0.99*float64(h.GetSampleCount()) {
						s.Sched.P99Le = b.GetUpperBound()
						break
					}
				}
			}
		}
	}
	return s, nil
}

// procStatus reads VmRSS and VmHWM, in bytes, from /proc/self/status.
func procStatus() (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, fmt.Errorf("soak: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("soak: %s: %w", key, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("soak: no VmRSS in /proc/self/status")
	}
	return rss, hwm, nil
}

// QM is a queue manager running in a child process started by StartQM.
type QM struct {
	// Addr is its gRPC address.
	Addr string
	// Pid is the child's process id.
	Pid  int
	http string
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan error
}

// StartQM starts cmd, a process that runs ServeQM (cmd/soak qm, or a test
// binary in that mode), and waits until it serves or ctx ends. Close stops
// it.
func StartQM(ctx context.Context, cmd *exec.Cmd) (*QM, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("soak: start queue manager: %w", err)
	}
	q := &QM{Pid: cmd.Process.Pid, cmd: cmd, in: in, done: make(chan error, 1)}
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		l, _ := r.ReadString('\n')
		line <- l
		_, _ = io.Copy(os.Stderr, r)
		q.done <- cmd.Wait()
	}()
	select {
	case l := <-line:
		if _, err := fmt.Sscanf(l, "qm grpc=%s http=%s", &q.Addr, &q.http); err != nil {
			q.Close()
			return nil, fmt.Errorf("soak: queue manager said %q: %w", l, err)
		}
		return q, nil
	case <-ctx.Done():
		q.Close()
		return nil, ctx.Err()
	}
}

// Snapshot asks the queue manager for a Snapshot; gc forces a full GC and a
// scavenge first (see ServeQM).
func (q *QM) Snapshot(ctx context.Context, gc bool) (Snapshot, error) {
	url := "http://" + q.http + "/snapshot"
	if gc {
		url += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Snapshot{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Snapshot{}, fmt.Errorf("soak: snapshot: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Snapshot{}, fmt.Errorf("soak: snapshot: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Snapshot{}, fmt.Errorf("soak: snapshot: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return Snapshot{}, fmt.Errorf("soak: snapshot: %w", err)
	}
	return s, nil
}

// HeapProfile returns the queue manager's heap profile (gzipped pprof).
func (q *QM) HeapProfile(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+q.http+"/debug/pprof/heap", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("soak: heap profile: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	if err != nil {
		return nil, fmt.Errorf("soak: heap profile: %w", err)
	}
	return b, nil
}

// WaitFor polls the queue manager's Snapshot until ok holds or ctx ends.
func (q *QM) WaitFor(ctx context.Context, what string, ok func(Snapshot) bool) (Snapshot, error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		s, err := q.Snapshot(ctx, false)
		if err == nil && ok(s) {
			return s, nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return s, fmt.Errorf("soak: waiting for %s: %w (last error: %v)", what, ctx.Err(), err)
		}
	}
}

// Close ends the child (its stdin closes, then a kill after 5 s) and waits
// for it.
func (q *QM) Close() {
	q.in.Close()
	select {
	case <-q.done:
	case <-time.After(5 * time.Second):
		_ = q.cmd.Process.Kill()
		<-q.done
	}
}
