package bench

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// System is a running end-to-end setup, ready for Run: every worker is
// attached, and Stream is the client's ClientStream.
type System struct {
	Stream Stream
	// SessionID goes on every task batch; empty for the relay.
	SessionID string
	// Shared is the shared-data path the workers read, for a Shape with
	// Shared set; nil otherwise.
	Shared *SharedData
	// ServerCPU, when not nil, is the CPU time used so far by a server
	// running in a process of its own, which Bench adds to this process's.
	ServerCPU func() (time.Duration, bool)
}

// Starter builds a system of shape s whose streams live as long as ctx, and
// registers its teardown with tb.Cleanup. It fails tb when it cannot start.
type Starter func(ctx context.Context, tb testing.TB, s Shape) System

// Transport is the gRPC options of every process in a system: Server for
// grpc.NewServer, Dial for grpc.NewClient (credentials are added by Dial).
type Transport struct {
	Server []grpc.ServerOption
	Dial   []grpc.DialOption
}

// StartRelay returns a Starter for a Relay whose server and clients all use
// tr: the relay server on 127.0.0.1, s.Workers Echo workers and the client,
// each on its own TCP connection. With s.Shared, the workers read shared
// data as the queue manager's do (StartQueueManager), so that the two
// differ only in the middle.
func StartRelay(tr Transport) Starter {
	return func(ctx context.Context, tb testing.TB, s Shape) System {
		tb.Helper()
		relay := NewRelay()
		srv := grpc.NewServer(tr.Server...)
		alpcrunpb.RegisterQueueServer(srv, relay)
		addr := servicetest.ServeServer(tb, srv)
		ctx, cancel := context.WithCancel(ctx)
		tb.Cleanup(cancel)
		sd := startShared(ctx, tb, s, relaySession)
		StartWorkers(ctx, tb, addr, tr.Dial, s.Workers, relaySession, sd)
		if err := relay.WaitWorkers(ctx, s.Workers); err != nil {
			tb.Fatalf("bench: waiting for %d relay workers: %v", s.Workers, err)
		}
		st, err := alpcrunpb.NewQueueClient(Dial(tb, addr, tr.Dial)).ClientStream(ctx)
		if err != nil {
			tb.Fatalf("bench: relay client stream: %v", err)
		}
		return System{Stream: st, Shared: sd}
	}
}

// relaySession is the session the relay's workers read shared data of: the
// relay has no sessions, and its batches carry none.
const relaySession = "relay"

// startShared starts the shared-data path for a system of shape s and
// stores session's shared data, or returns nil when s does not use it.
func startShared(ctx context.Context, tb testing.TB, s Shape, session string) *SharedData {
	tb.Helper()
	if !s.Shared {
		return nil
	}
	sd := StartSharedData(tb)
	if err := sd.Put(ctx, session); err != nil {
		tb.Fatalf("bench: put shared data: %v", err)
	}
	return sd
}

// serveFunc returns how one worker serves its streams: Echo, or, when sd
// is not nil, EchoShared through the worker's own NodeCache, closed at
// tb's cleanup.
func serveFunc(ctx context.Context, tb testing.TB, sd *SharedData) func(st WorkerStream, session string) error {
	tb.Helper()
	if sd == nil {
		return func(st WorkerStream, _ string) error { return Echo(st) }
	}
	nc := sd.NodeCache(tb)
	return func(st WorkerStream, session string) error { return sd.EchoShared(ctx, st, nc, session) }
}

// Dial opens a plaintext connection to addr, closed at tb's cleanup.
func Dial(tb testing.TB, addr string, opts []grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		tb.Fatalf("bench: dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// StartWorkers opens n WorkerStreams to addr, each on its own connection
// with metadata workerid and sessionid, and runs Echo on each until ctx
// ends; with sd not nil, EchoShared, each worker through its own
// NodeCache. At cleanup it waits for them and fails tb on any error other
// than the cancellation.
func StartWorkers(ctx context.Context, tb testing.TB, addr string, opts []grpc.DialOption, n int, sessionID string, sd *SharedData) {
	tb.Helper()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		serve := serveFunc(ctx, tb, sd)
		client := alpcrunpb.NewQueueClient(Dial(tb, addr, opts))
		md := metadata.Pairs("workerid", "bench"+strconv.Itoa(i), "sessionid", sessionID)
		st, err := client.WorkerStream(metadata.NewOutgoingContext(ctx, md))
		if err != nil {
			cancel()
			tb.Fatalf("bench: worker stream: %v", err)
		}
		wg.Go(func() {
			if err := serve(st, sessionID); err != nil && ctx.Err() == nil {
				errs <- err
			}
		})
	}
	// Registered after the dials, so it runs before their connections
	// close: the workers end by cancellation, not by a broken connection.
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			tb.Errorf("bench: worker: %v", err)
		}
	})
}
