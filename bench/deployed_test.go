package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// The deployed shape: the queue manager as a user deploys it, the
// cmd/queue-manager binary with its default configuration in a process of
// its own, against the relay in a process of its own (bench/internal/relayd),
// with the same client and workers in the benchmark's process over loopback
// TCP. Next to BenchmarkE2E, whose servers share the process (and its
// garbage collector and scheduler) with the client and workers, it gives
// the ratio a deployment gets.

// deployedShapes are BenchmarkDeployed's rows: the gate's loaded shape,
// large batches at 4 workers, and the idle round trip.
var deployedShapes = []Shape{loaded(4, 100, 64), loaded(4, 1000, 64), idleShape}

// BenchmarkDeployed runs b.N tasks client → server process → workers →
// client for each of deployedShapes, as
// BenchmarkDeployed/impl=relay|qm/workers=W/batch=B/payload=S/inflight=N,
// each round against a fresh server process built once per test binary.
// cpu-ns/op adds the server process's CPU time to this one's. Compare with
// go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /impl.
//
//	go test -run '^$' -bench 'BenchmarkDeployed' -count 10 ./bench
func BenchmarkDeployed(b *testing.B) {
	for _, s := range deployedShapes {
		for _, impl := range []string{"relay", "qm"} {
			start := startDeployedRelay
			if impl == "qm" {
				start = startDeployedQM
			}
			b.Run("impl="+impl+"/"+s.Name(), func(b *testing.B) { Bench(b, start, s) })
		}
	}
}

// TestDeployedExactlyOnce runs a few thousand tasks through each deployed
// system, every one back exactly once. It builds both binaries, so -short
// skips it.
func TestDeployedExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/queue-manager and relayd")
	}
	s := Shape{Workers: 2, Batch: 7, Payload: 64, Inflight: 8}
	for name, start := range map[string]Starter{"relay": startDeployedRelay, "qm": startDeployedQM} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sys := start(ctx, t, s)
			const n = 2001
			res, err := Run(ctx, sys.Stream, sys.SessionID, s, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Verify(n); err != nil {
				t.Fatal(err)
			}
			if _, ok := sys.ServerCPU(); !ok && fileExists("/proc/self/stat") {
				t.Error("server CPU time not read")
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// startDeployedQM starts cmd/queue-manager with its defaults on a free
// loopback port, waits for its "serving" log line, and sets up s on it as
// StartQueueManager does, on the tuned transport.
func startDeployedQM(ctx context.Context, tb testing.TB, s Shape) System {
	tb.Helper()
	p := startProcess(ctx, tb, "queue-manager", servingAddr,
		"--listen", "127.0.0.1:0", "--httpListen", "", "--logformat", "json")
	sys := connectQueueManager(ctx, tb, p.addr, tuned.Dial, s)
	sys.ServerCPU = p.cpu
	return sys
}

// startDeployedRelay starts relayd waiting for s.Workers workers, attaches
// them, and waits for its health status to turn SERVING before opening the
// client stream.
func startDeployedRelay(ctx context.Context, tb testing.TB, s Shape) System {
	tb.Helper()
	p := startProcess(ctx, tb, "relayd", relayAddr, "-workers", strconv.Itoa(s.Workers))
	ctx, cancel := context.WithCancel(ctx)
	tb.Cleanup(cancel)
	StartWorkers(ctx, tb, p.addr, tuned.Dial, s.Workers, relaySession, nil)
	conn := Dial(tb, p.addr, tuned.Dial)
	if err := waitServing(ctx, conn); err != nil {
		tb.Fatalf("bench: relayd: waiting for %d workers: %v", s.Workers, err)
	}
	st, err := alpcrunpb.NewQueueClient(conn).ClientStream(ctx)
	if err != nil {
		tb.Fatalf("bench: relayd client stream: %v", err)
	}
	return System{Stream: st, ServerCPU: p.cpu}
}

// waitServing watches conn's health until it reports SERVING, within
// readyTimeout.
func waitServing(ctx context.Context, conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	for {
		r, err := w.Recv()
		if err != nil {
			return err
		}
		if r.Status == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
	}
}

// readyTimeout bounds a server process's start: its address line, and
// the relay's workers.
const readyTimeout = 30 * time.Second

// process is a server started by startProcess.
type process struct {
	addr string
	pid  int
}

// cpu is the process's CPU time so far (user + system) from
// /proc/PID/stat, on Linux only.
func (p *process) cpu() (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the parenthesised command name, which may hold spaces:
	// state is field 3, utime and stime fields 14 and 15.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	// In clock ticks of USER_HZ, 100 on every Linux this runs on.
	return time.Duration(ut+st) * (time.Second / 100), true
}

// startProcess runs binary name (built by deployedBinaries) with args,
// and waits up to readyTimeout for parse to find the gRPC address in a
// line of its stdout or stderr. At cleanup it stops the process with
// SIGTERM and waits for it (killing it after readyTimeout).
func startProcess(ctx context.Context, tb testing.TB, name string, parse func(line string) (string, bool), args ...string) *process {
	tb.Helper()
	dir, err := deployedBinaries()
	if err != nil {
		tb.Fatalf("bench: build: %v", err)
	}
	cmd := exec.Command(filepath.Join(dir, name), args...)
	stdin, err := cmd.StdinPipe() // relayd exits when it closes
	if err != nil {
		tb.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		tb.Fatalf("bench: start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(readyTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	found := make(chan string, 1)
	go func() {
		// Read every line until the process ends, so that its logging
		// never blocks on a full pipe.
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if addr, ok := parse(sc.Text()); ok {
				select {
				case found <- addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	t := time.NewTimer(readyTimeout)
	defer t.Stop()
	select {
	case addr := <-found:
		return &process{addr: addr, pid: cmd.Process.Pid}
	case <-exited:
		tb.Fatalf("bench: %s exited before serving", name)
	case <-t.C:
		tb.Fatalf("bench: %s not serving within %v", name, readyTimeout)
	case <-ctx.Done():
		tb.Fatalf("bench: %s: %v", name, ctx.Err())
	}
	return nil
}

// servingAddr reads the gRPC address from a service's JSON "serving" log
// line (services/internal/serve).
func servingAddr(line string) (string, bool) {
	var l struct{ Msg, GRPC string }
	if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "serving" || l.GRPC == "" {
		return "", false
	}
	return l.GRPC, true
}

// relayAddr reads relayd's "relay grpc=ADDR" line.
func relayAddr(line string) (string, bool) {
	addr, ok := strings.CutPrefix(line, "relay grpc=")
	return addr, ok
}

// deployedBinaries builds cmd/queue-manager and bench/internal/relayd into
// a temporary folder once per test binary and returns it; TestMain
// removes it.
var deployedBinaries = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "alpcrun-deployed-")
	if err != nil {
		return "", err
	}
	buildDir = dir
	for name, pkg := range map[string]string{
		"queue-manager": "github.com/alpcrun/alpcrun/cmd/queue-manager",
		"relayd":        "github.com/alpcrun/alpcrun/bench/internal/relayd",
	} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir, nil
})

// buildDir is deployedBinaries' folder once it made one.
var buildDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}
