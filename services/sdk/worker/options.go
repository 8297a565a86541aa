package worker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/internal/auth"
	"github.com/alpcrun/alpcrun/services/internal/tlsconf"
	"github.com/alpcrun/alpcrun/services/sdk"
)

// Environment variables that name the worker's node and pod (set from the
// Kubernetes downward API).
const (
	EnvNode = "METALCORE_WORKER_NODE"
	EnvPod  = "METALCORE_WORKER_POD"
)

// DefaultHeartbeat is a third of the queue manager's default workerTimeout
// (60s), so that two heartbeats may be lost before the worker is dropped.
const DefaultHeartbeat = 20 * time.Second

// Option configures a Worker.
type Option func(*config)

type config struct {
	concurrency int
	node, pod   string
	apiKey      string
	creds       credentials.TransportCredentials
	extra       []grpc.DialOption
	heartbeat   time.Duration
	shared      SharedDataSource
	sharedWait  time.Duration
	log         *slog.Logger
	onState     func(Event)
	err         error // from an option, reported by New
}

func defaultConfig() config {
	host, _ := os.Hostname()
	c := config{
		concurrency: runtime.GOMAXPROCS(0),
		node:        os.Getenv(EnvNode),
		pod:         os.Getenv(EnvPod),
		apiKey:      os.Getenv(sdk.EnvAPIKey),
		creds:       insecure.NewCredentials(),
		heartbeat:   DefaultHeartbeat,
		sharedWait:  DefaultSharedDataWait,
		log:         slog.New(slog.DiscardHandler),
	}
	if c.node == "" {
		c.node = host
	}
	if c.pod == "" {
		c.pod = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return c
}

func (c *config) dialOptions() []grpc.DialOption {
	opts := append(grpctune.DialOptions(), grpc.WithTransportCredentials(c.creds), auth.DialOption(c.apiKey))
	return append(opts, c.extra...)
}

// WithConcurrency sets the number of task slots: tasks (or batches, with a
// BatchHandler) run at most n at a time. Default GOMAXPROCS.
func WithConcurrency(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.concurrency = n
		}
	}
}

// WithNode names the worker's node (default $METALCORE_WORKER_NODE, else the
// host name).
func WithNode(node string) Option { return func(c *config) { c.node = node } }

// WithPod names the worker's pod (default $METALCORE_WORKER_POD, else
// host-pid).
func WithPod(pod string) Option { return func(c *config) { c.pod = pod } }

// WithAPIKey sends key in metadata "api_key" on every call (default
// $METALCORE_API_KEY; empty sends none).
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithTLS dials with TLS configured by cfg (plaintext is the default).
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.creds = credentials.NewTLS(cfg) }
}

// WithTLSFiles dials with TLS, verifying the queue manager with the PEM CA
// bundle caCert (empty: the system roots) and presenting the client
// certificate certFile/keyFile when both are set (mutual TLS).
func WithTLSFiles(caCert, certFile, keyFile string) Option {
	return func(c *config) {
		c.creds, c.err = tlsconf.Client{Enabled: true, CACert: caCert, CertFile: certFile, KeyFile: keyFile}.Credentials()
	}
}

// WithTransportCredentials dials with creds, e.g. from tlsconf.Client.
func WithTransportCredentials(creds credentials.TransportCredentials) Option {
	return func(c *config) { c.creds = creds }
}

// WithDialOptions adds gRPC dial options after the SDK's own, so they win.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.extra = append(c.extra, opts...) }
}

// WithHeartbeat sets the heartbeat interval; keep it at most a third of the
// queue manager's workerTimeout. Default DefaultHeartbeat.
func WithHeartbeat(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.heartbeat = d
		}
	}
}

// DefaultSharedDataWait is how long a batch waits for shared data that its
// source reports missing (NOT_FOUND) or unreachable (UNAVAILABLE): long
// enough for a restarted cache to be refilled by its owner's
// client.SharedData.Keep, short enough that a session without shared data
// fails its batches soon.
const DefaultSharedDataWait = 15 * time.Second

// WithSharedDataWait sets how long a batch retries shared data that is
// missing or unreachable before its tasks fail (0: no retry). Default
// DefaultSharedDataWait.
func WithSharedDataWait(d time.Duration) Option {
	return func(c *config) { c.sharedWait = max(d, 0) }
}

// WithSharedData sets where batches that use shared data get it, typically
// a NodeCache.
func WithSharedData(src SharedDataSource) Option { return func(c *config) { c.shared = src } }

// WithLogger logs registrations, bindings and reconnects (default: none).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithStateHook calls fn on every state the worker reports, from the
// worker's control goroutine; fn must return quickly.
func WithStateHook(fn func(Event)) Option { return func(c *config) { c.onState = fn } }
