package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// proc is one service binary running as a child process.
type proc struct {
	name       string
	addr, http string // gRPC and HTTP listen addresses; http is empty for workers
	cmd        *exec.Cmd
	log        string // its stderr and stdout, for the failure message
	done       chan struct{}
	err        error // of Wait, once done is closed
}

// freePort returns a loopback address with a port that was free a moment
// ago; the child binds it right after, so a collision is unlikely and shows
// as a failed start.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs bin with args and extra environment (the harness's own
// environment is not passed on, so a METALCORE_API_KEY of the caller cannot
// change a case). Its output goes to a file in dir.
func start(dir, bin, name string, args, env []string) (*proc, error) {
	logf, err := os.CreateTemp(dir, name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that a ^C of the harness is handled by
	// the harness, which stops its children itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logf.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// startService starts a service that listens on gRPC and HTTP addresses
// (fresh ones when grpcAddr is empty) and waits until its gRPC health
// service reports SERVING.
func startService(ctx context.Context, dir, bin, name, grpcAddr, httpAddr string, args, env []string) (*proc, error) {
	var err error
	if grpcAddr == "" {
		if grpcAddr, err = freePort(); err != nil {
			return nil, err
		}
		if httpAddr, err = freePort(); err != nil {
			return nil, err
		}
	}
	args = append([]string{"--listen", grpcAddr, "--httpListen", httpAddr, "--logformat", "text", "--loglevel", "warn"}, args...)
	p, err := start(dir, bin, name, args, env)
	if err != nil {
		return nil, err
	}
	p.addr, p.http = grpcAddr, httpAddr
	if err := p.waitServing(ctx, 15*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// waitServing polls the gRPC health service until it says SERVING, the
// process exits, or the deadline passes.
func (p *proc) waitServing(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	h := healthpb.NewHealthClient(cc)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		r, err := h.Check(cctx, &healthpb.HealthCheckRequest{})
		ccancel()
		if err == nil && r.Status == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before serving: %v\n%s", p.name, p.err, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not serving after %v (last: %v)\n%s", p.name, limit, err, p.tail())
		case <-tick.C:
		}
	}
}

// tail is the end of the process's output.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// rss is the process's VmRSS in bytes, 0 once it is gone.
func (p *proc) rss() int64 {
	if p == nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "status"))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// stop sends SIGTERM, then SIGKILL after 3 s: a wedged old binary may not
// drain.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process at once: a worker's drain is no part of a case.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// flagsOf lists the --flags a service binary accepts, from its --help.
func flagsOf(bin string) (map[string]bool, error) {
	out, err := exec.Command(bin, "--help").CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) { // --help exits non-zero
		return nil, fmt.Errorf("%s --help: %w", bin, err)
	}
	flags := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		if f, ok := strings.CutPrefix(strings.TrimSpace(line), "-"); ok {
			name, _, _ := strings.Cut(f, " ")
			flags[strings.TrimPrefix(name, "-")] = true
		}
	}
	if len(flags) == 0 {
		return nil, fmt.Errorf("%s --help lists no flags:\n%s", bin, out)
	}
	return flags, nil
}
