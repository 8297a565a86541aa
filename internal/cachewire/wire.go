// Package cachewire is the gRPC edge that the central cache and the node
// cache share: requests to core/cache writes and entries to responses, the
// one table from core/cache errors to gRPC codes, message limits sized to
// the payload limit, and the Prometheus series of a cache tier.
package cachewire

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/alpcrun/alpcrun/core/cache"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/grpctune"
)

// MaxPayloadLimit is the largest maxPayload accepted: a protobuf message
// must stay under 2 GiB, framing included.
const MaxPayloadLimit = 2<<30 - 2<<20

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
// (services/grpctune) followed by ServerOptions(maxPayload): what a cache
// server runs with.
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
	{cache.ErrFull, codes.ResourceExhausted},
	{cache.ErrNotOwner, codes.PermissionDenied},
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
