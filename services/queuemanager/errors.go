package queuemanager

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/core/queue"
	"github.com/alpcrun/alpcrun/core/session"
)

// errCodes is the one table from core errors to gRPC codes.
var errCodes = []struct {
	err  error
	code codes.Code
}{
	{session.ErrNotFound, codes.NotFound},
	{session.ErrExists, codes.AlreadyExists},
	{session.ErrInvalid, codes.InvalidArgument},
	{session.ErrClosed, codes.NotFound},
	{queue.ErrClosed, codes.NotFound},
	{errInvalidBatch, codes.InvalidArgument},
	{errInvalidMetadata, codes.InvalidArgument},
	{errBadPage, codes.InvalidArgument},
	{errUnknownWorker, codes.NotFound},
	{errNotBound, codes.FailedPrecondition},
	{errStreamOpen, codes.AlreadyExists},
	{errNotYourSession, codes.PermissionDenied},
	{errTooManySessions, codes.ResourceExhausted},
	{errTooManyStreams, codes.ResourceExhausted},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

var (
	errInvalidBatch    = errors.New("queuemanager: invalid batch")
	errInvalidMetadata = errors.New("queuemanager: invalid metadata")
	errUnknownWorker   = errors.New("queuemanager: unknown worker")
	errNotBound        = errors.New("queuemanager: worker not bound to session")
	errStreamOpen      = errors.New("queuemanager: a WorkerStream of this worker for this session is open")
	errNotYourSession  = errors.New("queuemanager: session belongs to another client")
)

// toStatus converts a core error to a gRPC status error.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
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
