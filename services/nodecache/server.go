// Package nodecache serves the Cache service of alpcrun.proto as a node
// cache: a pull-through cache of the central cache on every node, a thin
// gRPC edge over core/cache.Node.
//
// GetSharedData with an update_level is answered from memory when the node
// holds that (session, level), else fetched from the central cache, once
// however many callers ask for it at the same time, and kept for the TTL
// the central cache reported, within cacheSize bytes (least recently used
// entries go first). Without an update_level it asks the central cache,
// which alone knows the newest level. The central cache's errors are passed
// on unchanged.
//
// Set, Update and Delete are checked (session id, payload size, ttl), then
// forwarded to the central cache, and the session's entries on this node
// are dropped. A node cache learns of writes only through itself: after a
// write made elsewhere it serves the levels it holds until they expire, so
// a client that changes the data gives it a new level, which is what
// Update does by default.
package nodecache

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/core/cache"
	"github.com/alpcrun/alpcrun/internal/cachewire"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/internal/auth"
)

// Server implements alpcrunpb.CacheServer.
type Server struct {
	pb.UnsafeCacheServer

	opts    Options
	up      pb.CacheClient
	node    *cache.Node
	metrics *cachewire.Metrics
	stop    func() // ends the cleanup loop
}

// New builds a node cache over opts.Upstream and starts its cleanup loop;
// Close stops it. Options start from DefaultOptions; New reports every bad
// one.
func New(opts Options) (*Server, error) {
	if opts.Upstream == nil {
		return nil, errors.New("nodecache: no upstream central cache")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, up: opts.Upstream}
	s.node = cache.NewNode(cache.NodeConfig{Capacity: int64(opts.CacheSize), Fetch: s.fetch, Now: opts.Now})
	s.metrics = cachewire.NewMetrics("node", s.node.Stats, opts.Registerer)
	s.stop = cachewire.Cleanup(opts.CleanupInterval, opts.Logger, s.node.Cleanup)
	return s, nil
}

// Register adds the Cache service to g.
func (s *Server) Register(g *grpc.Server) { pb.RegisterCacheServer(g, s) }

// ServerOptions raise gRPC's message limits to carry MaxPayload.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return cachewire.ServerOptions(int(s.opts.MaxPayload))
}

// Close stops the cleanup loop.
func (s *Server) Close() { s.stop() }

// Node is the server's store, for tests and embedding.
func (s *Server) Node() *cache.Node { return s.node }

// fetch is the Node's upstream: a Get at the central cache.
func (s *Server) fetch(ctx context.Context, key cache.Key) (cache.Entry, error) {
	req := &pb.SharedData{SessionId: key.Session}
	if !key.Newest {
		level := key.Level
		req.UpdateLevel = &level
	}
	resp, err := s.up.GetSharedData(ctx, req, s.ownKey()...)
	if err != nil {
		return cache.Entry{}, err
	}
	// A missing or invalid ttl is zero: the entry is served, not kept.
	return cache.Entry{Level: resp.GetUpdateLevel(), Payload: resp.GetPayload(), Expires: s.opts.Now().Add(resp.GetTtl().AsDuration())}, nil
}

// GetSharedData implements alpcrunpb.CacheServer: a hit when answered from
// this node's memory, a miss otherwise.
func (s *Server) GetSharedData(ctx context.Context, req *pb.SharedData) (*pb.SharedData, error) {
	key := cache.Key{Session: req.GetSessionId(), Newest: req.UpdateLevel == nil, Level: req.GetUpdateLevel()}
	if err := cache.ValidSession(key.Session); err != nil {
		s.metrics.Miss.Inc()
		return nil, cachewire.ToStatus(err)
	}
	// The node cache reads with its own key, so it holds a tenant's key
	// to the tenant's sessions itself, as the central cache does.
	if id := auth.FromContext(ctx); !id.Reaches(key.Session) {
		return nil, status.Errorf(codes.PermissionDenied, "auth: session %q is not of tenant %q", key.Session, id.Tenant)
	}
	e, hit, err := s.node.Get(ctx, key)
	if hit {
		s.metrics.Hit.Inc()
	} else {
		s.metrics.Miss.Inc()
	}
	if err != nil {
		return nil, cachewire.ToStatus(err)
	}
	return cachewire.Response(key.Session, e, s.opts.Now()), nil
}

// SetSharedData implements alpcrunpb.CacheServer by forwarding.
func (s *Server) SetSharedData(ctx context.Context, req *pb.SharedData) (*pb.Status, error) {
	return s.write(ctx, req, s.up.SetSharedData)
}

// UpdateSharedData implements alpcrunpb.CacheServer by forwarding.
func (s *Server) UpdateSharedData(ctx context.Context, req *pb.SharedData) (*pb.Status, error) {
	return s.write(ctx, req, s.up.UpdateSharedData)
}

// DeleteSharedData implements alpcrunpb.CacheServer by forwarding.
func (s *Server) DeleteSharedData(ctx context.Context, req *pb.SharedData) (*pb.Status, error) {
	if err := cache.ValidSession(req.GetSessionId()); err != nil {
		return nil, cachewire.ToStatus(err)
	}
	defer s.node.Forget(req.GetSessionId())
	return s.up.DeleteSharedData(ctx, req, s.writersKey(ctx)...)
}

// ownKey is the call option that sends the node cache's own API key.
func (s *Server) ownKey() []grpc.CallOption {
	if s.opts.UpstreamKey == "" {
		return nil
	}
	return []grpc.CallOption{grpc.PerRPCCredentials(auth.Key(s.opts.UpstreamKey))}
}

// writersKey forwards the API key the writer sent this node cache, so
// that the central cache checks the writer's role and gives the data to
// the writer's tenant; the node cache's own key would let every tenant
// on the node write as one. Without one the node cache's key is sent, as
// in a deployment without keys or with one shared key.
func (s *Server) writersKey(ctx context.Context) []grpc.CallOption {
	md, _ := metadata.FromIncomingContext(ctx)
	if k := md.Get(auth.MetadataKey); len(k) > 0 && k[0] != "" {
		return []grpc.CallOption{grpc.PerRPCCredentials(auth.Key(k[0]))}
	}
	return s.ownKey()
}

func (s *Server) write(ctx context.Context, req *pb.SharedData, forward func(context.Context, *pb.SharedData, ...grpc.CallOption) (*pb.Status, error)) (*pb.Status, error) {
	w, err := cachewire.WriteOf(req)
	if err == nil {
		err = w.Validate(int(s.opts.MaxPayload))
	}
	if err != nil {
		return nil, cachewire.ToStatus(err)
	}
	// Whatever the answer, the write may have been applied.
	defer s.node.Forget(w.Session)
	return forward(ctx, req, s.writersKey(ctx)...)
}
