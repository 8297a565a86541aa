// Command alpcrun is ALPCRUN.CH in one process (see package allinone) and
// the operator's view of a running cluster (the queue manager's Admin API):
//
//	alpcrun up [flags]        queue manager, central cache, node cache and
//	                          workers, until SIGINT/SIGTERM; listens on
//	                          localhost unless its listen keys say otherwise
//	alpcrun demo [flags]      all of that on free loopback ports, and a Monte
//	                          Carlo pricing run through it, with a progress bar
//	                          and a report of price, throughput and latency
//	alpcrun status            one summary of the queue manager
//	alpcrun sessions          open sessions with their task counts
//	alpcrun session ID        one session in detail
//	alpcrun session close ID  close a session (as an operator)
//	alpcrun workers           registered workers
//	alpcrun completion SHELL  shell completion script
//
// The cluster commands find the queue manager by --queue-manager, else
// $METALCORE_QUEUE_MANAGER_ADDR, else localhost:1337, send the API key of
// $METALCORE_API_KEY, print tables (-o json for scripts).
//
// Examples:
//
//	alpcrun up --workers 4 --task sleep:1ms
//	alpcrun demo --paths 100000000 --taskPaths 100000
//	alpcrun sessions -o json
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

	"github.com/spf13/cobra"

	"github.com/alpcrun/alpcrun/internal/cli"
	"github.com/alpcrun/alpcrun/internal/version"
	"github.com/alpcrun/alpcrun/services/allinone"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // restore the default handling, so that a second signal kills
	}()
	err := newRoot().ExecuteContext(ctx)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "alpcrun: interrupted")
		os.Exit(130)
	}
	if err != nil {
		cli.Fail(os.Stderr, "alpcrun", err)
		os.Exit(1)
	}
}

// newRoot returns the command tree.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "alpcrun",
		Short: "ALPCRUN.CH in one process, and a view of a running cluster",
		Example: `  alpcrun demo                  price a European call on an in-process cluster
  alpcrun up --workers 4        run the cluster until Ctrl-C
  alpcrun sessions -o json      the open sessions of the queue manager at --queue-manager`,
		Version:       version.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.AddCommand(
		passthrough("up", "Run the cluster in one process until Ctrl-C", up),
		passthrough("demo", "Run the cluster and price a European call by Monte Carlo through it", demo),
	)
	addClusterCommands(root)
	return root
}

// passthrough is a command whose flags are the configuration keys of
// package allinone, parsed by its loader (so that each has its config key
// and environment variable); `alpcrun CMD -h` lists them.
func passthrough(name, short string, run func(context.Context, []string) error) *cobra.Command {
	return &cobra.Command{
		Use: name + " [flags]", Short: short, DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), args) },
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
		fmt.Fprintf(os.Stderr, "alpcrun up: queue manager %s, central cache %s, node cache %s, %d workers (task slots per worker: %d) running the task catalog, %s by default\n",
			a.QueueManager, a.CentralCache, a.NodeCache, cfg.Workers, cfg.Concurrency, cfg.Task)
		if a.Dashboard != "" {
			fmt.Fprintf(os.Stderr, "alpcrun up: dashboard http://%s/ (metrics at /metrics)\n", a.Dashboard)
		}
		flags := ""
		if a.QueueManager != "localhost:1337" && a.QueueManager != "127.0.0.1:1337" {
			flags = " --queue-manager " + a.QueueManager
		}
		fmt.Fprintf(os.Stderr, "alpcrun up: try `alpcrun status%s` and `alpcrun sessions%s` in another terminal; Ctrl-C stops\n", flags, flags)
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
