// Command node-cache serves the Cache service as a node cache: a
// pull-through LRU of the central cache for the workers of its node (gRPC
// :3337, HTTP :3338). Configuration comes from --config FILE,
// ALPCRUNCH_<KEY> variables and --<key> flags; the central cache's address
// also from METALCORE_CENTRAL_CACHE_ADDR.
//
//	node-cache --centralCacheAddr central-cache:2337 --cacheSize 4GiB
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alpcrun/alpcrun/services/nodecache"
)

func main() {
	fs := flag.NewFlagSet("node-cache", flag.ContinueOnError)
	cfg, err := nodecache.LoadConfig(fs, os.Args[1:], os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := nodecache.Run(ctx, cfg, nil); err != nil {
		fmt.Fprintln(os.Stderr, "node-cache:", err)
		os.Exit(1)
	}
}
