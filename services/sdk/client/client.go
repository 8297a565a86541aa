package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/internal/auth"
	"github.com/alpcrun/alpcrun/services/internal/tlsconf"
	"github.com/alpcrun/alpcrun/services/sdk"
)

// Option configures Dial.
type Option func(*dialConfig)

type dialConfig struct {
	apiKey string
	creds  credentials.TransportCredentials
	extra  []grpc.DialOption
	err    error // from an option, reported by Dial
}

// WithAPIKey sends key in metadata "api_key" on every call (default
// $METALCORE_API_KEY; empty sends none).
func WithAPIKey(key string) Option { return func(c *dialConfig) { c.apiKey = key } }

// WithTLS dials with TLS configured by cfg (plaintext is the default).
func WithTLS(cfg *tls.Config) Option {
	return func(c *dialConfig) { c.creds = credentials.NewTLS(cfg) }
}

// WithTLSFiles dials with TLS, verifying the queue manager with the PEM CA
// bundle caCert (empty: the system roots) and presenting the client
// certificate certFile/keyFile when both are set (mutual TLS).
func WithTLSFiles(caCert, certFile, keyFile string) Option {
	return func(c *dialConfig) {
		c.creds, c.err = tlsconf.Client{Enabled: true, CACert: caCert, CertFile: certFile, KeyFile: keyFile}.Credentials()
	}
}

// WithTransportCredentials dials with creds, e.g. from tlsconf.Client.
func WithTransportCredentials(creds credentials.TransportCredentials) Option {
	return func(c *dialConfig) { c.creds = creds }
}

// WithDialOptions adds gRPC dial options after the SDK's own, so they win.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *dialConfig) { c.extra = append(c.extra, opts...) }
}

// Client is a connection to a queue manager. It is safe for concurrent use
// and may carry many sessions.
type Client struct {
	conn *grpc.ClientConn
	api  pb.QueueClient
}

// Dial connects to the queue manager at addr (empty: as sdk.QueueManagerAddr
// resolves it) and waits until the connection is ready or ctx ends, so that a wrong address fails here, with
// ErrUnavailable, rather than at the first call. Give ctx a timeout.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	conn, err := dialReady(ctx, sdk.QueueManagerAddr(addr), opts)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, api: pb.NewQueueClient(conn)}, nil
}

// dialReady connects to addr and waits until the connection is ready.
func dialReady(ctx context.Context, addr string, opts []Option) (*grpc.ClientConn, error) {
	cfg := dialConfig{creds: insecure.NewCredentials(), apiKey: os.Getenv(sdk.EnvAPIKey)}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	dopts := append(grpctune.DialOptions(), grpc.WithTransportCredentials(cfg.creds), auth.DialOption(cfg.apiKey))
	conn, err := grpc.NewClient(addr, append(dopts, cfg.extra...)...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	conn.Connect()
	for st := conn.GetState(); st != connectivity.Ready; st = conn.GetState() {
		if !conn.WaitForStateChange(ctx, st) {
			conn.Close()
			return nil, fmt.Errorf("%w: %s not ready (%s): %w", ErrUnavailable, addr, st, ctx.Err())
		}
	}
	return conn, nil
}

// Close closes the connection; the streams of its sessions end.
func (c *Client) Close() error { return c.conn.Close() }

// Attributes are a session's settings (SessionAttributes of the proto).
// Zero values take the queue manager's defaults at creation.
type Attributes struct {
	// Priority 0-10, higher is more important.
	Priority uint32
	// ClientID identifies the client; the queue manager assigns a ULID
	// when empty.
	ClientID string
	// MinWorkers are kept bound while the session has work; nil: unset.
	MinWorkers *uint32
	// MaxWorkers is a hard limit on bound workers; nil: unlimited.
	MaxWorkers *uint32
	// IdleTimeout unbinds the workers of a session without client activity
	// (default 60s).
	IdleTimeout time.Duration
	// Preemptible lets a higher-priority session take this one's workers.
	Preemptible bool
	// CleanupOnClientExit closes the session when its last stream ends.
	CleanupOnClientExit bool
	// MaxInflightBatchesPerWorker bounds unanswered batches per worker
	// (default 10).
	MaxInflightBatchesPerWorker uint32
	Tags                        []string
	// MaxAttempts is the number of deliveries before a task is
	// dead-lettered (default 3).
	MaxAttempts uint32
	// TaskTimeout redelivers a batch not answered in time; 0: no limit.
	TaskTimeout time.Duration
}

func (a *Attributes) proto() *pb.SessionAttributes {
	p := &pb.SessionAttributes{
		Priority:                    a.Priority,
		ClientId:                    a.ClientID,
		MinWorkers:                  a.MinWorkers,
		MaxWorkers:                  a.MaxWorkers,
		Preemptible:                 a.Preemptible,
		CleanupOnClientExit:         a.CleanupOnClientExit,
		MaxInflightBatchesPerWorker: a.MaxInflightBatchesPerWorker,
		Tags:                        a.Tags,
		MaxAttempts:                 a.MaxAttempts,
	}
	if a.IdleTimeout != 0 {
		p.IdleTimeout = durationpb.New(a.IdleTimeout)
	}
	if a.TaskTimeout != 0 {
		p.TaskTimeout = durationpb.New(a.TaskTimeout)
	}
	return p
}

func attributesOf(p *pb.SessionAttributes) Attributes {
	return Attributes{
		Priority:                    p.GetPriority(),
		ClientID:                    p.GetClientId(),
		MinWorkers:                  p.MinWorkers,
		MaxWorkers:                  p.MaxWorkers,
		IdleTimeout:                 p.GetIdleTimeout().AsDuration(),
		Preemptible:                 p.GetPreemptible(),
		CleanupOnClientExit:         p.GetCleanupOnClientExit(),
		MaxInflightBatchesPerWorker: p.GetMaxInflightBatchesPerWorker(),
		Tags:                        p.GetTags(),
		MaxAttempts:                 p.GetMaxAttempts(),
		TaskTimeout:                 p.GetTaskTimeout().AsDuration(),
	}
}

// clone copies the slices and pointers so the copy can be changed freely.
func (a Attributes) clone() Attributes {
	a.Tags = slices.Clone(a.Tags)
	if a.MinWorkers != nil {
		v := *a.MinWorkers
		a.MinWorkers = &v
	}
	if a.MaxWorkers != nil {
		v := *a.MaxWorkers
		a.MaxWorkers = &v
	}
	return a
}

// SessionOptions are a new session's settings on the queue manager
// (ID, AppID, Attributes) and in the SDK (the rest).
type SessionOptions struct {
	// ID of the session; the queue manager assigns a ULID when empty.
	ID string
	// AppID names the application; required.
	AppID      string
	Attributes Attributes

	// MaxBatchSize caps the tasks per batch that Submit builds (default
	// 100: large enough that per-batch costs vanish, small enough that a
	// batch is spread over a worker's task slots).
	MaxBatchSize int
	// MaxWait, when positive, holds a partial batch up to this long for
	// more tasks. The default 0 sends at once whenever the stream is idle
	// (see the package doc).
	MaxWait time.Duration
	// BatchPriority is the priority of the session's batches within the
	// session (heap queue only: higher first).
	BatchPriority uint32
	// SharedDataLevel, when set, marks every batch as needing the
	// session's shared data at this update level.
	SharedDataLevel *uint32
	// ResultBuffer is the capacity of the Results channel (default 1024).
	ResultBuffer int
	// OnResult, when set, receives every result on the stream's receiving
	// goroutine instead of the Results channel; it must return quickly.
	OnResult func(Result)
	// ReconnectTimeout is how long the session keeps trying to reopen a
	// broken stream before Wait fails (default 60s, the default
	// idle_timeout). Negative: never reopen.
	ReconnectTimeout time.Duration
}

func (o *SessionOptions) fillDefaults() {
	if o.MaxBatchSize <= 0 {
		o.MaxBatchSize = 100
	}
	if o.ResultBuffer <= 0 {
		o.ResultBuffer = 1024
	}
	if o.ReconnectTimeout == 0 {
		o.ReconnectTimeout = time.Minute
	}
}

// CreateSession creates a session and opens its stream. Its results must be
// drained (see the package doc).
func (c *Client) CreateSession(ctx context.Context, o SessionOptions) (*Session, error) {
	if o.AppID == "" {
		return nil, fmt.Errorf("%w: app id is required", ErrInvalidArgument)
	}
	resp, err := c.api.CreateSession(ctx, &pb.Session{Id: o.ID, App: &pb.App{Id: o.AppID}, Attributes: o.Attributes.proto()})
	if err != nil {
		return nil, mapErr(err)
	}
	return c.start(resp.GetId(), attributesOf(resp.GetAttributes()), o, false), nil
}

// Attach opens the stream of an existing session, for instance after the
// client restarted, and receives the results queued for it, including those
// of tasks it did not submit. Only the SDK fields of o are used;
// Attributes() is unknown (zero) on such a session, so Update starts from
// zero values. An unknown id makes Wait fail with ErrNotFound: with no
// AppID in o, a session the queue manager lost is not created anew.
func (c *Client) Attach(id string, o SessionOptions) (*Session, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: session id is required", ErrInvalidArgument)
	}
	return c.start(id, Attributes{}, o, true), nil
}
