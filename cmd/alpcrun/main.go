// Command alpcrun is ALPCRUN.CH in one process (see package allinone):
//
//	alpcrun up [flags]     queue manager, central cache, node cache and
//	                       workers on the standard ports, until SIGINT/SIGTERM
//	alpcrun demo [flags]   all of that on free loopback ports, and a Monte
//	                       Carlo pricing run through it, with a progress bar
//	                       and a report of price, throughput and latency
//
// Examples:
//
//	alpcrun up --workers 4 --task sleep:1ms
//	alpcrun demo --paths 100000000 --taskPaths 100000
//	alpcrun demo -h                  every flag, with its config key and environment variable
//
// The demo's report goes to stdout, its progress to stderr (a bar redrawn
// in place on a terminal, else a line a second). A first SIGINT stops
// gracefully; a second one kills.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alpcrun/alpcrun/internal/version"
	"github.com/alpcrun/alpcrun/services/allinone"
)

const usage = `usage: alpcrun up [flags]     run the cluster in one process
       alpcrun demo [flags]   run it and price a European call by Monte Carlo
       alpcrun CMD -h         flags of CMD
`

func main() {
	version.Handle("alpcrun", os.Args[1:])
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // restore the default handling, so that a second signal kills
	}()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "up":
		err = up(ctx, args)
	case "demo":
		err = demo(ctx, args)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
		return
	default:
		err = fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "alpcrun: interrupted")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "alpcrun:", err)
		os.Exit(1)
	}
}

func up(ctx context.Context, args []string) error {
	cfg, err := allinone.LoadUpConfig(flag.NewFlagSet("alpcrun up", flag.ContinueOnError), args, os.LookupEnv)
	if err != nil {
		return err
	}
	ready := make(chan allinone.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- allinone.Up(ctx, cfg, ready) }()
	select {
	case a := <-ready:
		fmt.Fprintf(os.Stderr, "alpcrun up: queue manager %s, central cache %s, node cache %s, %d workers (task slots per worker: %d) running %s; Ctrl-C stops\n",
			a.QueueManager, a.CentralCache, a.NodeCache, cfg.Workers, cfg.Concurrency, cfg.Task)
		return <-done
	case err := <-done:
		return err
	}
}

func demo(ctx context.Context, args []string) error {
	cfg, err := allinone.LoadDemoConfig(flag.NewFlagSet("alpcrun demo", flag.ContinueOnError), args, os.LookupEnv)
	if err != nil {
		return err
	}
	r, err := allinone.Demo(ctx, cfg, os.Stderr, isTerminal(os.Stderr))
	if err != nil {
		return err
	}
	return r.Print(os.Stdout)
}

// isTerminal reports whether f is a character device, as a terminal is.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
