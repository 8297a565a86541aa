// Command relayd serves the lab's Relay (package bench) in a process of its
// own, for BenchmarkDeployed: the relay a deployed queue manager is read
// against. It listens on a free loopback port with grpctune's server
// options and writes "relay grpc=ADDR" to stdout once serving. Its gRPC
// health status is NOT_SERVING until -workers worker streams are attached,
// then SERVING, so that the benchmark starts its clock only once every
// worker is there. It exits on SIGTERM, SIGINT or when stdin closes (the
// parent went away).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/alpcrun/alpcrun/bench"
	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/grpctune"
)

func main() {
	workers := flag.Int("workers", 1, "worker streams to wait for before reporting SERVING")
	flag.Parse()
	if err := run(*workers); err != nil {
		fmt.Fprintln(os.Stderr, "relayd:", err)
		os.Exit(1)
	}
}

func run(workers int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	relay := bench.NewRelay()
	g := grpc.NewServer(grpctune.ServerOptions()...)
	alpcrunpb.RegisterQueueServer(g, relay)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(g, hs)
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()
	go func() {
		if relay.WaitWorkers(ctx, workers) == nil {
			hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		}
	}()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	if _, err := fmt.Printf("relay grpc=%s\n", lis.Addr()); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
