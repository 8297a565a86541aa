// Package servicetest is what the tests of several packages share to run
// services: a context with the one test deadline, a fake clock, serving on
// a loopback port, starting a service as its main does, and reading a
// Prometheus counter. Everything started stops when the test ends.
package servicetest

import (
	"context"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/services/grpctune"
)

// Timeout bounds every wait of a test for something that must happen. It
// is generous because -race on a busy 2-core machine is slow; a correct
// program never gets near it, so it decides only how long a broken one
// takes to fail.
const Timeout = 30 * time.Second

// Context is t's context, cancelled after Timeout.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// Clock is a fake clock that moves only when told, for code that takes a
// func() time.Time. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed instant, the same in every run.
func NewClock() *Clock { return &Clock{now: time.Unix(1_700_000_000, 0)} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Serve serves a gRPC server with grpctune's options, then opts, on a free
// loopback port until the test ends, and returns its address. register
// adds the services.
func Serve(t testing.TB, register func(*grpc.Server), opts ...grpc.ServerOption) string {
	t.Helper()
	g := grpc.NewServer(append(grpctune.ServerOptions(), opts...)...)
	register(g)
	return ServeServer(t, g)
}

// ServeServer serves g on a free loopback port until the test ends, or g
// is stopped before, and returns its address.
func ServeServer(t testing.TB, g *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis)
	}()
	t.Cleanup(func() {
		g.Stop()
		<-done
	})
	return lis.Addr().String()
}

// Dial opens a plaintext connection to addr with grpctune's options, then
// opts, closed when the test ends.
func Dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, append(append(grpctune.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials())), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// Server is what every service's server has.
type Server interface {
	Register(*grpc.Server)
	// ServerOptions are the transport limits the service's main serves with.
	ServerOptions() []grpc.ServerOption
	Close()
}

// Start builds a server with newServer (a service's New) from opts and
// serves it as Serve does, with its own ServerOptions and then extra, until
// the test ends. It returns the server and its address.
func Start[O any, S Server](t testing.TB, newServer func(O) (S, error), opts O, extra ...grpc.ServerOption) (S, string) {
	t.Helper()
	s, err := newServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, Serve(t, s.Register, append(s.ServerOptions(), extra...)...)
}

// RunUntilReady runs run, a service's Run, until the test ends and returns
// the address it sent on ready. The test fails if run returns before it is
// ready, or with an error when the test ends.
func RunUntilReady(t testing.TB, run func(ctx context.Context, ready chan<- string) error) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- run(ctx, ready) }()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("service: %v", err)
			}
		})
		return addr
	case err := <-done:
		cancel()
		t.Fatalf("service did not start: %v", err)
	case <-time.After(Timeout):
		t.Cleanup(func() {
			cancel()
			<-done
		})
		t.Fatalf("service did not start in %v", Timeout)
	}
	return ""
}

// Defaults returns o with each zero field set to def's, field by field
// inside nested structs, so that a test names only the options it
// changes: Defaults(Options{BufferSize: 10}, DefaultOptions()).
func Defaults[O any](o, def O) O {
	fill(reflect.ValueOf(&o).Elem(), reflect.ValueOf(def))
	return o
}

func fill(v, def reflect.Value) {
	if v.Kind() == reflect.Struct {
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), def.Field(i))
			}
		}
		return
	}
	if v.IsZero() {
		v.Set(def)
	}
}

// WantCode fails the test unless err has gRPC status code c.
func WantCode(t testing.TB, err error, c codes.Code) {
	t.Helper()
	if got := status.Code(err); got != c {
		t.Fatalf("code = %v (%v), want %v", got, err, c)
	}
}

// Counter is the sum of the counters named name in g whose labels include
// every name and value pair of labels.
func Counter(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.Metric {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m.GetLabel(), labels[i], labels[i+1]) {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func hasLabel(pairs []*dto.LabelPair, name, value string) bool {
	for _, p := range pairs {
		if p.GetName() == name && p.GetValue() == value {
			return true
		}
	}
	return false
}
