// Command worker is the example ALPCRUN.CH worker, built on the worker SDK:
// it registers with the queue manager and runs the tasks of package
// catalog (echo, sleep:DURATION, pi, european: the kind a payload names, else
// --task) until SIGINT or SIGTERM, which make it drain: finish the tasks it
// holds, send their results, and exit.
//
//	worker --queue-manager localhost:1337 --task pi --concurrency 4
//
// The queue manager's address comes from --queue-manager, else
// $METALCORE_QUEUE_MANAGER_ADDR, else localhost:1337; batches that use
// shared data read it from the node cache at --node-cache, else
// $METALCORE_NODE_CACHE_ADDR, else localhost:3337 (with --tls, over TLS
// too); with --central-cache they are read from the central cache while the
// node cache is unavailable. --heartbeat must stay at most a third of the
// queue manager's workerTimeout. The SDK reads the API key from
// $METALCORE_API_KEY and the node and pod names from $METALCORE_WORKER_NODE
// and $METALCORE_WORKER_POD.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/alpcrun/alpcrun/internal/cli"
	"github.com/alpcrun/alpcrun/internal/version"
	"github.com/alpcrun/alpcrun/services/catalog"
	"github.com/alpcrun/alpcrun/services/sdk"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

func main() {
	version.Handle("worker", os.Args[1:])
	if err := run(); err != nil {
		cli.Fail(os.Stderr, "worker", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("queue-manager", sdk.QueueManagerAddr(""), "queue manager address (env "+sdk.EnvQueueManagerAddr+")")
	cacheAddr := flag.String("node-cache", sdk.NodeCacheAddr(""), "node cache address, for shared data (env "+sdk.EnvNodeCacheAddr+")")
	task := flag.String("task", "echo", "task run when a payload names no kind: "+catalog.Kinds)
	concurrency := flag.Int("concurrency", runtime.GOMAXPROCS(0), "tasks run at once")
	useTLS := flag.Bool("tls", false, "dial the queue manager with TLS")
	caCert := flag.String("ca-cert", "", "PEM CA bundle that verifies the queue manager (default: system roots)")
	certFile := flag.String("cert", "", "PEM client certificate for mutual TLS")
	keyFile := flag.String("key", "", "PEM key of --cert")
	heartbeat := flag.Duration("heartbeat", worker.DefaultHeartbeat, "heartbeat interval, at most a third of the queue manager's workerTimeout")
	fallback := flag.String("central-cache", "", "central cache address to read shared data from while the node cache is unavailable (default: none)")
	flag.Parse()

	h, err := catalog.Handler(*task)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("worker starting", "queue-manager", *addr, "node-cache", *cacheAddr, "task", *task, "concurrency", *concurrency)
	opts := []worker.Option{worker.WithConcurrency(*concurrency), worker.WithLogger(log), worker.WithHeartbeat(*heartbeat)}
	cacheOpts := []worker.NodeCacheOption{worker.WithDecoder(catalog.Decode)}
	if *fallback != "" {
		cacheOpts = append(cacheOpts, worker.WithCentralCacheFallback(*fallback))
	}
	if *useTLS {
		opts = append(opts, worker.WithTLSFiles(*caCert, *certFile, *keyFile))
		cacheOpts = append(cacheOpts, worker.WithNodeCacheTLSFiles(*caCert, *certFile, *keyFile))
	}
	shared, err := worker.NewNodeCache(*cacheAddr, cacheOpts...)
	if err != nil {
		return err
	}
	defer shared.Close()
	opts = append(opts, worker.WithSharedData(shared))
	return worker.Run(ctx, *addr, h, opts...)
}
