// Command central-cache serves the Cache service as the central cache: the
// authoritative store of the sessions' shared data (gRPC :2337, HTTP
// :2338). Configuration comes from --config FILE, ALPCRUNCH_<KEY>
// variables and --<key> flags.
//
//	central-cache --maxTTL 10m --maxPayload 128MiB
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alpcrun/alpcrun/services/centralcache"
)

func main() {
	fs := flag.NewFlagSet("central-cache", flag.ContinueOnError)
	cfg, err := centralcache.LoadConfig(fs, os.Args[1:], os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := centralcache.Run(ctx, cfg, nil); err != nil {
		fmt.Fprintln(os.Stderr, "central-cache:", err)
		os.Exit(1)
	}
}
