// Package servers starts each service of ALPCRUN.CH in a test, in this
// process on a loopback port, with the transport limits its main serves
// with, until the test ends. The options given are the test's changes:
// their zero fields take the service's defaults.
package servers

import (
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/internal/cachewire"

	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/nodecache"
	"github.com/alpcrun/alpcrun/services/queuemanager"
)

// SchedulerInterval is the queue manager's scheduler tick in tests, so
// that what waits for a tick (a silent worker, an expired session) is
// seen soon.
const SchedulerInterval = 20 * time.Millisecond

// QueueManager starts a queue manager, its scheduler ticking every
// SchedulerInterval unless opts say otherwise, served with extra after its
// own server options. It returns the server and its address.
func QueueManager(t testing.TB, opts queuemanager.Options, extra ...grpc.ServerOption) (*queuemanager.Server, string) {
	t.Helper()
	def := queuemanager.DefaultOptions()
	def.SchedulerInterval = SchedulerInterval
	return servicetest.Start(t, queuemanager.New, servicetest.Defaults(opts, def), extra...)
}

// CentralCache starts a central cache and returns it and its address.
func CentralCache(t testing.TB, opts centralcache.Options) (*centralcache.Server, string) {
	t.Helper()
	return servicetest.Start(t, centralcache.New, servicetest.Defaults(opts, centralcache.DefaultOptions()))
}

// NodeCache starts a node cache over the central cache at centralAddr and
// returns it and its address.
func NodeCache(t testing.TB, opts nodecache.Options, centralAddr string) (*nodecache.Server, string) {
	t.Helper()
	opts = servicetest.Defaults(opts, nodecache.DefaultOptions())
	cc := servicetest.Dial(t, centralAddr, grpc.WithDefaultCallOptions(cachewire.CallOptions(int(opts.MaxPayload))...))
	opts.Upstream = pb.NewCacheClient(cc)
	return servicetest.Start(t, nodecache.New, opts)
}
