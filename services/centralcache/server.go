// Package centralcache serves the Cache service of alpcrun.proto as the
// central cache: the authoritative store of every session's shared data, a
// thin gRPC edge over core/cache.Store (see its package doc for the exact
// semantics of each call).
package centralcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/alpcrun/alpcrun/core/cache"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/grpctune"
)

// Server implements alpcrunpb.CacheServer.
type Server struct {
	pb.UnsafeCacheServer

	opts    Options
	store   *cache.Store
	metrics *Metrics
	stop    context.CancelFunc
	stopped chan struct{}
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
		opts:    opts,
		store:   cache.NewStore(cache.StoreConfig{MaxTTL: opts.MaxTTL, MaxPayload: int(opts.MaxPayload), Now: opts.Now}),
		stopped: make(chan struct{}),
	}
	s.metrics = NewMetrics("central", s.store.Stats, opts.Registerer)
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	t := time.NewTicker(opts.CleanupInterval)
	go func() {
		defer close(s.stopped)
		defer t.Stop()
		s.store.Cleanup(ctx, t.C, func(n int) { opts.Logger.Debug("removed expired shared data", "entries", n) })
	}()
	return s, nil
}

// Register adds the Cache service to g.
func (s *Server) Register(g *grpc.Server) { pb.RegisterCacheServer(g, s) }

// ServerOptions raise gRPC's message limits to carry MaxPayload.
func (s *Server) ServerOptions() []grpc.ServerOption { return ServerOptions(int(s.opts.MaxPayload)) }

// Close stops the cleanup loop.
func (s *Server) Close() {
	s.stop()
	<-s.stopped
}

// SetSharedData implements alpcrunpb.CacheServer. The store keeps the
// request's payload slice: gRPC's proto codec copies bytes fields out of
// its pooled receive buffer, so nothing else refers to it.
func (s *Server) SetSharedData(_ context.Context, req *pb.SharedData) (*pb.Status, error) {
	w, err := WriteOf(req)
	if err != nil {
		return nil, ToStatus(err)
	}
	e, err := s.store.Set(w)
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.Status{Message: "set", UpdateLevel: e.Level}, nil
}

// UpdateSharedData implements alpcrunpb.CacheServer.
func (s *Server) UpdateSharedData(_ context.Context, req *pb.SharedData) (*pb.Status, error) {
	w, err := WriteOf(req)
	if err != nil {
		return nil, ToStatus(err)
	}
	e, err := s.store.Update(w)
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.Status{Message: "updated", UpdateLevel: e.Level}, nil
}

// GetSharedData implements alpcrunpb.CacheServer. The stored payload goes
// into the response as it is: it is never modified, and gRPC only reads it.
// Ttl is the time the entry has left.
func (s *Server) GetSharedData(_ context.Context, req *pb.SharedData) (*pb.SharedData, error) {
	e, err := s.store.Get(req.GetSessionId(), req.UpdateLevel)
	if err != nil {
		s.metrics.Miss.Inc()
		return nil, ToStatus(err)
	}
	s.metrics.Hit.Inc()
	return Response(req.GetSessionId(), e, s.opts.Now()), nil
}

// DeleteSharedData implements alpcrunpb.CacheServer.
func (s *Server) DeleteSharedData(_ context.Context, req *pb.SharedData) (*pb.Status, error) {
	e, err := s.store.Delete(req.GetSessionId())
	if err != nil {
		return nil, ToStatus(err)
	}
	return &pb.Status{Message: "deleted", UpdateLevel: e.Level}, nil
}

// WriteOf turns a Set or Update request into a cache.Write; an invalid ttl
// is cache.ErrInvalid. The other checks are the store's.
func WriteOf(req *pb.SharedData) (cache.Write, error) {
	w := cache.Write{Session: req.GetSessionId(), Level: req.UpdateLevel, Payload: req.GetPayload()}
	if req.Ttl != nil {
		if err := req.Ttl.CheckValid(); err != nil {
			return w, fmt.Errorf("%w: ttl: %v", cache.ErrInvalid, err)
		}
		w.TTL = req.Ttl.AsDuration()
	}
	return w, nil
}

// Response is the GetSharedData answer for e.
func Response(session string, e cache.Entry, now time.Time) *pb.SharedData {
	level := e.Level
	return &pb.SharedData{SessionId: session, UpdateLevel: &level, Payload: e.Payload, Ttl: durationpb.New(e.TTL(now))}
}

// messageSlack is what a SharedData message adds to its payload: the
// session id (at most cache.MaxSessionID bytes), level, ttl and tags, with
// room to spare.
const messageSlack = 64 << 10

// ServerOptions set gRPC's message limits so that a payload of maxPayload
// fits. A payload somewhat larger still reaches the handler and is refused
// with INVALID_ARGUMENT; one larger than maxPayload plus the slack is
// refused by gRPC itself with RESOURCE_EXHAUSTED.
func ServerOptions(maxPayload int) []grpc.ServerOption {
	n := MessageLimit(maxPayload)
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(n), grpc.MaxSendMsgSize(n)}
}

// CallOptions are the client-side counterpart of ServerOptions.
func CallOptions(maxPayload int) []grpc.CallOption {
	n := MessageLimit(maxPayload)
	return []grpc.CallOption{grpc.MaxCallRecvMsgSize(n), grpc.MaxCallSendMsgSize(n)}
}

// TunedServerOptions are the transport of every ALPCRUN.CH server
// (services/grpctune) followed by ServerOptions(maxPayload): what
// a cache server runs with, for code outside services/, such as the
// benchmarks, that serves a cache or a baseline next to one.
func TunedServerOptions(maxPayload int) []grpc.ServerOption {
	return append(grpctune.ServerOptions(), ServerOptions(maxPayload)...)
}

// TunedDialOptions are the client side of TunedServerOptions, without
// credentials.
func TunedDialOptions(maxPayload int) []grpc.DialOption {
	return append(grpctune.DialOptions(), grpc.WithDefaultCallOptions(CallOptions(maxPayload)...))
}

// MessageLimit is the gRPC message size that carries a payload of
// maxPayload bytes.
func MessageLimit(maxPayload int) int { return maxPayload + messageSlack }

// errCodes is the one table from core errors to gRPC codes.
var errCodes = []struct {
	err  error
	code codes.Code
}{
	{cache.ErrInvalid, codes.InvalidArgument},
	{cache.ErrNotFound, codes.NotFound},
	{cache.ErrExists, codes.AlreadyExists},
	{cache.ErrLevel, codes.FailedPrecondition},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// ToStatus converts a core/cache error to a gRPC status error; status
// errors (a node cache passing on its upstream's answer) pass through.
func ToStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, e := range errCodes {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}
