// Command clustertest is the client workload of make cluster-test
// (deploy/scripts/cluster-test.sh): against the compose cluster of
// deploy/compose.yaml it opens a session over TLS with the API key of
// $METALCORE_API_KEY, puts its shared data into the central cache (so every
// worker reads it through its node cache), submits tasks with unique ids,
// kills one worker container with docker kill while tasks are in flight,
// and checks that every task's result arrives exactly once, that some
// arrived by redelivery (so the kill did hit tasks in flight), that there
// are no dead letters, and that the queue manager dropped the dead worker.
//
//	clustertest -queue-manager 127.0.0.1:49153 -queue-manager-http 127.0.0.1:49154 \
//	    -central-cache 127.0.0.1:49155 -ca-cert certs/ca.pem -kill-container ID
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/alpcrun/alpcrun/deploy/ledger"
	"github.com/alpcrun/alpcrun/deploy/probe"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

type config struct {
	qm, qmHTTP, cc, caCert string
	victim                 string
	workers, tasks, batch  int
	killAt                 float64
	sharedBytes            int
	echo                   bool
	timeout                time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.qm, "queue-manager", "", "queue manager gRPC `address` (required)")
	flag.StringVar(&c.qmHTTP, "queue-manager-http", "", "queue manager HTTP `address`, for /metrics (required)")
	flag.StringVar(&c.cc, "central-cache", "", "central cache gRPC `address` (required)")
	flag.StringVar(&c.caCert, "ca-cert", "", "PEM CA `file` that verifies the servers (required)")
	flag.StringVar(&c.victim, "kill-container", "", "`id` of the worker container to docker kill mid-run (required)")
	flag.IntVar(&c.workers, "workers", 4, "workers the cluster runs; the run starts once all are registered")
	flag.IntVar(&c.tasks, "tasks", 3000, "tasks to submit")
	flag.IntVar(&c.batch, "batch", 10, "tasks per batch")
	flag.Float64Var(&c.killAt, "kill-at", 0.25, "kill the worker once this fraction of the results arrived")
	flag.IntVar(&c.sharedBytes, "shared-bytes", 4096, "size of the session's shared data")
	flag.BoolVar(&c.echo, "echo", true, "check that each result's payload is its task's (workers run echo or sleep:D)")
	flag.DurationVar(&c.timeout, "timeout", 3*time.Minute, "deadline of the whole run")
	flag.Parse()
	if c.qm == "" || c.qmHTTP == "" || c.cc == "" || c.caCert == "" || c.victim == "" {
		fmt.Fprintln(os.Stderr, "clustertest: -queue-manager, -queue-manager-http, -central-cache, -ca-cert and -kill-container are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("clustertest: PASS")
}

func run(ctx context.Context, c config) error {
	if err := waitWorkers(ctx, c.qmHTTP, c.workers); err != nil {
		return err
	}
	fmt.Printf("clustertest: %d workers registered\n", c.workers)

	tls := client.WithTLSFiles(c.caCert, "", "")
	cl, err := client.Dial(ctx, c.qm, tls)
	if err != nil {
		return err
	}
	defer cl.Close()
	sd, err := client.DialSharedData(ctx, c.cc, tls)
	if err != nil {
		return err
	}
	defer sd.Close()

	level := uint32(1)
	s, err := cl.CreateSession(ctx, client.SessionOptions{
		AppID:           "clustertest",
		MaxBatchSize:    c.batch,
		SharedDataLevel: &level,
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(cctx)
	}()
	// At the deadline, closing the connection ends the session's stream, and
	// with it the loop over Results below.
	stop := context.AfterFunc(ctx, func() { _ = cl.Close() })
	defer stop()
	// The shared data goes in before any task that needs it is submitted.
	if err := sd.Set(ctx, s.ID(), level, make([]byte, c.sharedBytes), 10*time.Minute); err != nil {
		return err
	}

	ids := make([]string, c.tasks)
	payloads := make([]string, c.tasks)
	for i := range ids {
		ids[i] = fmt.Sprintf("task-%06d", i)
		payloads[i] = "payload of " + ids[i]
	}
	l := ledger.New("clustertest", ids, payloads)

	start := time.Now()
	submitErr := make(chan error, 1)
	go func() {
		defer s.CloseSend()
		for i, id := range ids {
			if err := s.Submit(ctx, id, []byte(payloads[i])); err != nil {
				submitErr <- err
				return
			}
		}
		submitErr <- nil
	}()

	killAfter := max(1, int(c.killAt*float64(c.tasks)))
	var killed, killDone time.Time
	killErr := make(chan error, 1)
	for r := range s.Results() {
		now := time.Now()
		l.Add(r.ID, r.Payload, r.Attempts, now, c.echo)
		if l.Received == killAfter {
			killed = now
			go func() {
				out, err := exec.CommandContext(ctx, "docker", "kill", c.victim).CombinedOutput()
				if err != nil {
					err = fmt.Errorf("clustertest: docker kill %s: %v: %s", c.victim, err, out)
				}
				killDone = time.Now()
				killErr <- err
			}()
		}
	}
	end := time.Now()
	if ctx.Err() != nil {
		return fmt.Errorf("clustertest: %d of %d results after %v: %w", l.Received, c.tasks, end.Sub(start).Round(time.Millisecond), ctx.Err())
	}
	if err := s.Wait(ctx); err != nil {
		return fmt.Errorf("clustertest: session ended: %w", err)
	}
	if err := <-submitErr; err != nil {
		return fmt.Errorf("clustertest: submit: %w", err)
	}
	if killed.IsZero() {
		return fmt.Errorf("clustertest: only %d results arrived, the worker was never killed", l.Received)
	}
	if err := <-killErr; err != nil {
		return err
	}
	dead, err := s.DeadLetters(ctx)
	if err != nil {
		return err
	}

	fmt.Printf("clustertest: %d tasks, %d results in %v (%.0f tasks/s)\n",
		c.tasks, l.Received, end.Sub(start).Round(time.Millisecond), float64(l.Received)/end.Sub(start).Seconds())
	fmt.Printf("clustertest: killed worker container %.12s after %d results, %v into the run (docker kill took %v)\n",
		c.victim, killAfter, killed.Sub(start).Round(time.Millisecond), killDone.Sub(killed).Round(time.Millisecond))
	if l.Redelivered > 0 {
		fmt.Printf("clustertest: recovery: %d tasks redelivered (max attempts %d); their results arrived %v to %v after the kill; run finished %v after it\n",
			l.Redelivered, l.MaxAttempts, l.FirstRedelivered.Sub(killed).Round(time.Millisecond),
			l.LastRedelivered.Sub(killed).Round(time.Millisecond), end.Sub(killed).Round(time.Millisecond))
	}

	var errs []error
	if err := l.Check(); err != nil {
		errs = append(errs, err)
	}
	if len(dead) > 0 {
		errs = append(errs, fmt.Errorf("clustertest: %d dead letters, first %q: %s", len(dead), dead[0].ID, dead[0].Error))
	}
	if l.Redelivered == 0 {
		errs = append(errs, errors.New("clustertest: no task was redelivered: the killed worker held none in flight, so the kill proved nothing"))
	}
	n, err := probe.Workers(ctx, c.qmHTTP)
	switch {
	case err != nil:
		errs = append(errs, err)
	case n != c.workers-1:
		errs = append(errs, fmt.Errorf("clustertest: the queue manager lists %d workers after the kill, want %d", n, c.workers-1))
	default:
		fmt.Printf("clustertest: the queue manager lists %d workers after the kill\n", n)
	}
	if len(errs) == 0 {
		fmt.Printf("clustertest: every one of the %d results arrived exactly once, no dead letters\n", c.tasks)
	}
	return errors.Join(errs...)
}

// waitWorkers polls the queue manager's metrics until want workers are
// registered: the cluster's containers start in any order.
func waitWorkers(ctx context.Context, addr string, want int) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := probe.Workers(ctx, addr)
		if err == nil && n >= want {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("clustertest: %d of %d workers registered (last error: %v): %w", n, want, err, ctx.Err())
		}
	}
}
