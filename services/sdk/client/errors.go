package client

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors. An error returned by the SDK wraps one of them when the
// queue manager answered with the matching gRPC code.
var (
	ErrNotFound         = errors.New("client: not found")
	ErrAlreadyExists    = errors.New("client: already exists")
	ErrInvalidArgument  = errors.New("client: invalid argument")
	ErrUnauthenticated  = errors.New("client: unauthenticated")
	ErrPermissionDenied = errors.New("client: permission denied")
	ErrUnavailable      = errors.New("client: server unavailable")
	// ErrClosed is returned by Submit after CloseSend or Close, and by Wait
	// after Close.
	ErrClosed = errors.New("client: session closed")
)

// codeErrs maps gRPC codes to the sentinel errors; Canceled and
// DeadlineExceeded map to the context errors so errors.Is works on them too.
var codeErrs = map[codes.Code]error{
	codes.NotFound:         ErrNotFound,
	codes.AlreadyExists:    ErrAlreadyExists,
	codes.InvalidArgument:  ErrInvalidArgument,
	codes.Unauthenticated:  ErrUnauthenticated,
	codes.PermissionDenied: ErrPermissionDenied,
	codes.Unavailable:      ErrUnavailable,
	codes.Canceled:         context.Canceled,
	codes.DeadlineExceeded: context.DeadlineExceeded,
}

// statusError is a gRPC status that also unwraps to its sentinel error.
type statusError struct {
	sentinel error
	st       *status.Status
}

func (e *statusError) Error() string              { return e.sentinel.Error() + ": " + e.st.Message() }
func (e *statusError) Unwrap() error              { return e.sentinel }
func (e *statusError) GRPCStatus() *status.Status { return e.st }

// mapErr converts a gRPC error into one that wraps the matching sentinel.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if s, ok := codeErrs[st.Code()]; ok {
		return &statusError{sentinel: s, st: st}
	}
	return err
}

// retryable reports whether a broken stream is worth reopening: transport
// failures are, answers about the request itself are not.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Aborted, codes.Internal, codes.Unknown, codes.Canceled:
		return true
	}
	return false
}
