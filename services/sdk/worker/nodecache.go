package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/core/cache"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/internal/auth"
	"github.com/alpcrun/alpcrun/services/internal/tlsconf"
	"github.com/alpcrun/alpcrun/services/sdk"
)

// NodeCacheConnectTimeout bounds each attempt to connect to the node cache
// when there is a fallback: the node cache is on the worker's own node.
const NodeCacheConnectTimeout = 2 * time.Second

// DefaultKeep is how many decoded (session, level) values a NodeCache keeps.
const DefaultKeep = 4

// NodeCacheOption configures a NodeCache.
type NodeCacheOption func(*nodeCacheConfig)

type nodeCacheConfig struct {
	apiKey  string
	creds   credentials.TransportCredentials
	extra   []grpc.DialOption
	decode  func([]byte) (any, error)
	keep    int
	central string
	err     error
}

// WithDecoder turns a payload into the value handlers get as
// Task.SharedData, once per (session, level). The default passes the
// payload itself, as a []byte.
func WithDecoder(fn func(payload []byte) (any, error)) NodeCacheOption {
	return func(c *nodeCacheConfig) { c.decode = fn }
}

// WithNodeCacheKeep sets how many decoded values are kept, the least
// recently used going first (default DefaultKeep).
func WithNodeCacheKeep(n int) NodeCacheOption {
	return func(c *nodeCacheConfig) {
		if n > 0 {
			c.keep = n
		}
	}
}

// WithNodeCacheAPIKey sends key in metadata "api_key" (default
// $METALCORE_API_KEY; empty sends none).
func WithNodeCacheAPIKey(key string) NodeCacheOption {
	return func(c *nodeCacheConfig) { c.apiKey = key }
}

// WithNodeCacheTLSFiles dials the node cache with TLS, as WithTLSFiles
// does the queue manager.
func WithNodeCacheTLSFiles(caCert, certFile, keyFile string) NodeCacheOption {
	return func(c *nodeCacheConfig) {
		c.creds, c.err = tlsconf.Client{Enabled: true, CACert: caCert, CertFile: certFile, KeyFile: keyFile}.Credentials()
	}
}

// WithNodeCacheDialOptions adds gRPC dial options after the SDK's own, so
// they win: for instance larger grpc.MaxCallRecvMsgSize call options for
// payloads over 64 MiB.
func WithNodeCacheDialOptions(opts ...grpc.DialOption) NodeCacheOption {
	return func(c *nodeCacheConfig) { c.extra = append(c.extra, opts...) }
}

// WithCentralCacheFallback reads shared data straight from the central
// cache at addr, dialled with the node cache's options, when the node cache
// is unavailable (gRPC UNAVAILABLE: down, restarting, unreachable), so that
// the loss of a node's cache slows its workers instead of failing their
// batches. Any other answer of the node cache (NOT_FOUND, ...) stands.
// Connecting to the node cache then gives up after
// NodeCacheConnectTimeout rather than gRPC's 20s, which a vanished host
// (no reset, no answer) would otherwise cost every read.
func WithCentralCacheFallback(addr string) NodeCacheOption {
	return func(c *nodeCacheConfig) { c.central = addr }
}

// NodeCache is the SharedDataSource of workers: it reads a session's shared
// data from the node cache and keeps the decoded value per (session,
// level), so that a worker fetches and decodes each level once, not once
// per batch; concurrent batches that need a level it lacks wait for one
// fetch. The value is shared by every task of every batch at that level
// and must be treated as read-only. Failed fetches are not kept: the next
// batch tries again. It is safe for concurrent use. Lock order: the
// flights' lock, then mu.
type NodeCache struct {
	addr    string
	conn    *grpc.ClientConn
	api     pb.CacheClient
	central *centralFallback // nil without WithCentralCacheFallback
	decode  func([]byte) (any, error)
	keep    int
	flights cache.Group[sharedKey, any]
	mu      struct {
		sync.Mutex
		vals map[sharedKey]*keptValue
		tick uint64 // use counter, for least-recently-used eviction
	}
}

type centralFallback struct {
	addr string
	conn *grpc.ClientConn
	api  pb.CacheClient
}

type sharedKey struct {
	session string
	level   uint32
}

type keptValue struct {
	v    any
	used uint64
}

var _ SharedDataSource = (*NodeCache)(nil)

// NewNodeCache returns a NodeCache for the node cache at addr (empty: as
// sdk.NodeCacheAddr resolves it). It connects on first use.
func NewNodeCache(addr string, opts ...NodeCacheOption) (*NodeCache, error) {
	addr = sdk.NodeCacheAddr(addr)
	cfg := nodeCacheConfig{
		apiKey: os.Getenv(sdk.EnvAPIKey),
		creds:  insecure.NewCredentials(),
		decode: func(p []byte) (any, error) { return p, nil },
		keep:   DefaultKeep,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	dopts := append(grpctune.DialOptions(), grpc.WithTransportCredentials(cfg.creds), auth.DialOption(cfg.apiKey))
	nodeOpts := dopts
	if cfg.central != "" {
		nodeOpts = append(slices.Clip(dopts), grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: NodeCacheConnectTimeout}))
	}
	conn, err := grpc.NewClient(addr, append(nodeOpts, cfg.extra...)...)
	if err != nil {
		return nil, fmt.Errorf("worker: dial node cache %s: %w", addr, err)
	}
	n := &NodeCache{addr: addr, conn: conn, api: pb.NewCacheClient(conn), decode: cfg.decode, keep: cfg.keep}
	if cfg.central != "" {
		cc, err := grpc.NewClient(cfg.central, append(dopts, cfg.extra...)...)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("worker: dial central cache %s: %w", cfg.central, err)
		}
		n.central = &centralFallback{addr: cfg.central, conn: cc, api: pb.NewCacheClient(cc)}
	}
	n.mu.vals = make(map[sharedKey]*keptValue)
	return n, nil
}

// Close closes the connections to the node cache and the fallback.
func (n *NodeCache) Close() error {
	err := n.conn.Close()
	if n.central != nil {
		err = errors.Join(err, n.central.conn.Close())
	}
	return err
}

// Get implements SharedDataSource.
func (n *NodeCache) Get(ctx context.Context, sessionID string, level uint32) (any, error) {
	k := sharedKey{session: sessionID, level: level}
	if v, ok := n.lookup(k); ok {
		return v, nil
	}
	v, _, err := n.flights.Do(ctx, k, func() (any, bool) { return n.lookup(k) }, func(ctx context.Context) (any, error) {
		d, err := n.fetch(ctx, &pb.SharedData{SessionId: sessionID, UpdateLevel: &level})
		if err != nil {
			return nil, err
		}
		v, err := n.decode(d.GetPayload())
		if err != nil {
			return nil, fmt.Errorf("worker: decoding shared data of session %q level %d: %w", sessionID, level, err)
		}
		n.store(k, v)
		return v, nil
	})
	return v, err
}

// fetch asks the node cache, then the fallback if the node cache is
// unavailable.
func (n *NodeCache) fetch(ctx context.Context, req *pb.SharedData) (*pb.SharedData, error) {
	d, err := n.api.GetSharedData(ctx, req)
	if err == nil {
		return d, nil
	}
	nerr := fmt.Errorf("worker: node cache %s: %w", n.addr, err)
	if n.central == nil || status.Code(err) != codes.Unavailable || ctx.Err() != nil {
		return nil, nerr
	}
	d, err = n.central.api.GetSharedData(ctx, req)
	if err != nil {
		return nil, errors.Join(nerr, fmt.Errorf("worker: central cache %s (fallback): %w", n.central.addr, err))
	}
	return d, nil
}

func (n *NodeCache) lookup(k sharedKey) (any, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	kv := n.mu.vals[k]
	if kv == nil {
		return nil, false
	}
	n.mu.tick++
	kv.used = n.mu.tick
	return kv.v, true
}

func (n *NodeCache) store(k sharedKey, v any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for len(n.mu.vals) >= n.keep {
		var oldest sharedKey
		first := true
		for key, kv := range n.mu.vals {
			if first || kv.used < n.mu.vals[oldest].used {
				oldest, first = key, false
			}
		}
		delete(n.mu.vals, oldest)
	}
	n.mu.tick++
	n.mu.vals[k] = &keptValue{v: v, used: n.mu.tick}
}
