// Package daemon is the body every service main shares: load the
// configuration (exit 2 naming every bad key), serve until SIGTERM or
// SIGINT, drain, and exit 1 on a serving error. --version prints the
// build and exits.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alpcrun/alpcrun/internal/cli"
	"github.com/alpcrun/alpcrun/internal/version"
)

// Main runs a service named name with its LoadConfig and Run functions.
func Main[C any](name string,
	load func(*flag.FlagSet, []string, func(string) (string, bool)) (C, error),
	run func(context.Context, C, chan<- string) error,
) {
	version.Handle(name, os.Args[1:])
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfg, err := load(fs, os.Args[1:], os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, nil); err != nil {
		cli.Fail(os.Stderr, name, err)
		os.Exit(1)
	}
}
