// Command queue-manager serves the Queue service: sessions, queues, the
// scheduler and the worker registry (gRPC :1337, HTTP :1338). Configuration
// comes from --config FILE, ALPCRUNCH_<KEY> variables and --<key> flags.
//
//	queue-manager --queueType lockfree --scheduler fairshare
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alpcrun/alpcrun/services/queuemanager"
)

func main() {
	fs := flag.NewFlagSet("queue-manager", flag.ContinueOnError)
	cfg, err := queuemanager.LoadConfig(fs, os.Args[1:], os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := queuemanager.Run(ctx, cfg, nil); err != nil {
		fmt.Fprintln(os.Stderr, "queue-manager:", err)
		os.Exit(1)
	}
}
