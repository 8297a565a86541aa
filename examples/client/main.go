// Command client is a small ALPCRUN.CH client built on the client SDK: it
// opens a session, submits tasks, prints each result as it arrives, and
// ends with a summary. Run it against a queue manager and workers:
//
//	go run ./cmd/queue-manager
//	go run ./cmd/worker                    # in two more terminals
//	go run ./examples/client --tasks 1000
//
// or against `go run ./cmd/alpcrun up`. Every payload names its kind of
// task (package catalog), so any worker of this repository runs it.
// With --task pi (the default) every task asks a worker for a Monte Carlo
// estimate of π over --samples points: the input is the sample count as
// decimal text and the result the number of hits, so π ≈ 4·Σhits/Σsamples.
// With --task echo the input is returned as is; with --task sleep:D (e.g.
// sleep:20ms) each task takes D on its worker, which shows how the work is
// spread over the workers: N tasks on W workers of C slots should take
// about N·D/(W·C).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/alpcrun/alpcrun/internal/cli"
	"github.com/alpcrun/alpcrun/services/catalog"
	"github.com/alpcrun/alpcrun/services/sdk"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

func main() {
	if err := run(); err != nil {
		cli.Fail(os.Stderr, "client", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("queue-manager", sdk.QueueManagerAddr(""), "queue manager address (env "+sdk.EnvQueueManagerAddr+")")
	tasks := flag.Int("tasks", 1000, "number of tasks")
	task := flag.String("task", "pi", "pi, echo or sleep:DURATION (e.g. sleep:20ms)")
	samples := flag.Uint64("samples", 1_000_000, "Monte Carlo samples per pi task")
	quiet := flag.Bool("quiet", false, "print only the summary")
	useTLS := flag.Bool("tls", false, "dial the queue manager with TLS")
	caCert := flag.String("ca-cert", "", "PEM CA bundle that verifies the queue manager (default: system roots)")
	flag.Parse()
	if _, err := catalog.Lookup(*task); err != nil || *task == "european" {
		return fmt.Errorf("unknown --task %q: want pi, echo or sleep:DURATION", *task)
	}

	// Ctrl-C closes the session, which ends the result stream below.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var opts []client.Option // the SDK takes the API key from METALCORE_API_KEY
	if *useTLS {
		opts = append(opts, client.WithTLSFiles(*caCert, "", ""))
	}
	c, err := client.Dial(dialCtx, *addr, opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.CreateSession(ctx, client.SessionOptions{AppID: "example"})
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		_ = s.Close(context.Background())
	}()
	fmt.Printf("session %s: %d %s tasks\n", s.ID(), *tasks, *task)

	start := time.Now()
	go func() {
		payload := catalog.Payload(*task, []byte(strconv.FormatUint(*samples, 10)))
		for i := range *tasks {
			if *task != "pi" {
				payload = catalog.Payload(*task, []byte("task "+strconv.Itoa(i)))
			}
			if err := s.Submit(ctx, strconv.Itoa(i), payload); err != nil {
				cli.Fail(os.Stderr, "client", err)
				break
			}
		}
		s.CloseSend()
	}()

	var done int
	var hits uint64
	for r := range s.Results() {
		done++
		if *task == "pi" {
			h, err := strconv.ParseUint(string(r.Payload), 10, 64)
			if err != nil {
				return fmt.Errorf("task %s: result %q is not a count of hits", r.ID, r.Payload)
			}
			hits += h
		}
		if !*quiet {
			fmt.Printf("task %s: %s (attempts %d)\n", r.ID, r.Payload, r.Attempts)
		}
	}
	if err := s.Wait(context.Background()); err != nil {
		return err
	}
	elapsed := time.Since(start)
	dead, err := s.DeadLetters(ctx)
	if err != nil {
		return err
	}
	for _, d := range dead {
		fmt.Printf("task %s failed: %s\n", d.ID, d.Error)
	}
	fmt.Printf("%d results, %d failed in %v (%.0f tasks/s)\n", done, len(dead), elapsed.Round(time.Millisecond), float64(done)/elapsed.Seconds())
	if *task == "pi" && done > 0 {
		fmt.Printf("pi ≈ %.6f from %d samples\n", 4*float64(hits)/float64(uint64(done)**samples), uint64(done)**samples)
	}
	return s.Close(ctx)
}
