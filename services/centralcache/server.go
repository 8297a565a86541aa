// Package centralcache serves the Cache service of alpcrun.proto as the
// central cache: the authoritative store of every session's shared data, a
// thin gRPC edge over core/cache.Store (see its package doc for the exact
// semantics of each call).
package centralcache

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
	store   *cache.Store
	metrics *cachewire.Metrics
	stop    func() // ends the cleanup loop
}

// New builds a central cache and starts its cleanup loop; Close stops it.
// Options start from DefaultOptions; New reports every bad one.
func New(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:  opts,
		store: cache.NewStore(cache.StoreConfig{MaxTTL: opts.MaxTTL, MaxPayload: int(opts.MaxPayload), MaxBytes: int64(opts.MaxBytes), Now: opts.Now}),
	}
	s.metrics = cachewire.NewMetrics("central", s.store.Stats, opts.Registerer)
	s.stop = cachewire.Cleanup(opts.CleanupInterval, opts.Logger, s.store.Cleanup)
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

// SetSharedData implements alpcrunpb.CacheServer. The store keeps the
// request's payload slice: gRPC's proto codec copies bytes fields out of
// its pooled receive buffer, so nothing else refers to it.
func (s *Server) SetSharedData(ctx context.Context, req *pb.SharedData) (*pb.Status, error) {
	w, err := writeBy(ctx, req)
	if err != nil {
		return nil, err
	}
	e, err := s.store.Set(w)
	if err != nil {
		return nil, cachewire.ToStatus(err)
	}
	return &pb.Status{Message: "set", UpdateLevel: e.Level}, nil
}

// writeBy is a write request by the caller of ctx, who needs role client;
// the entry belongs to its tenant (core/cache, Write.Owner).
func writeBy(ctx context.Context, req *pb.SharedData) (cache.Write, error) {
	if err := auth.Require(ctx, auth.RoleClient); err != nil {
		return cache.Write{}, err
	}
	w, err := cachewire.WriteOf(req)
	if err != nil {
		return w, cachewire.ToStatus(err)
	}
	if err := reaches(ctx, w.Session); err != nil {
		return w, err
	}
	w.Owner = auth.FromContext(ctx).Tenant
	return w, nil
}

// reaches refuses a key with a tenant the shared data of sessions not its
// tenant's (their ids start with "TENANT:", as the queue manager names
// them): it can neither read another's data nor claim an id first.
func reaches(ctx context.Context, session string) error {
	if id := auth.FromContext(ctx); !id.Reaches(session) {
		return status.Errorf(codes.PermissionDenied, "auth: session %q is not of tenant %q (its sessions start with %q)", session, id.Tenant, id.SessionPrefix())
	}
	return nil
}

// UpdateSharedData implements alpcrunpb.CacheServer.
func (s *Server) UpdateSharedData(ctx context.Context, req *pb.SharedData) (*pb.Status, error) {
	w, err := writeBy(ctx, req)
	if err != nil {
		return nil, err
	}
	e, err := s.store.Update(w)
	if err != nil {
		return nil, cachewire.ToStatus(err)
	}
	return &pb.Status{Message: "updated", UpdateLevel: e.Level}, nil
}

// GetSharedData implements alpcrunpb.CacheServer. The stored payload goes
// into the response as it is: it is never modified, and gRPC only reads it.
// Ttl is the time the entry has left.
func (s *Server) GetSharedData(ctx context.Context, req *pb.SharedData) (*pb.SharedData, error) {
	if err := auth.Require(ctx, auth.RoleClient|auth.RoleWorker); err != nil {
		return nil, err
	}
	if err := reaches(ctx, req.GetSessionId()); err != nil {
		return nil, err
	}
	e, err := s.store.Get(req.GetSessionId(), req.UpdateLevel)
	if err != nil {
		s.metrics.Miss.Inc()
		return nil, cachewire.ToStatus(err)
	}
	s.metrics.Hit.Inc()
	return cachewire.Response(req.GetSessionId(), e, s.opts.Now()), nil
}

// DeleteSharedData implements alpcrunpb.CacheServer.
func (s *Server) DeleteSharedData(ctx context.Context, req *pb.SharedData) (*pb.Status, error) {
	if err := auth.Require(ctx, auth.RoleClient); err != nil {
		return nil, err
	}
	if err := reaches(ctx, req.GetSessionId()); err != nil {
		return nil, err
	}
	e, err := s.store.DeleteAs(req.GetSessionId(), auth.FromContext(ctx).Tenant)
	if err != nil {
		return nil, cachewire.ToStatus(err)
	}
	return &pb.Status{Message: "deleted", UpdateLevel: e.Level}, nil
}

// TunedServerOptions are the transport of every ALPCRUN.CH server
// (services/grpctune) and the message limits for payloads of maxPayload:
// what a cache server runs with, for code outside services/, such as the
// benchmarks, that serves a cache or a baseline next to one.
func TunedServerOptions(maxPayload int) []grpc.ServerOption {
	return cachewire.TunedServerOptions(maxPayload)
}

// TunedDialOptions are the client side of TunedServerOptions, without
// credentials.
func TunedDialOptions(maxPayload int) []grpc.DialOption {
	return cachewire.TunedDialOptions(maxPayload)
}
