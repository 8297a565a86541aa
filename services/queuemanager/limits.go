package queuemanager

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/core/session"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/internal/auth"
)

// Limits against abuse, by configuration key. Refusals name the key and
// its value, except maxMessageBytes, which gRPC enforces with its own
// message ("received message larger than max (N vs. M)").
//
//	key                   refusal             what it bounds
//	maxBatchBytes         INVALID_ARGUMENT    a client batch's encoded size (batchChecker)
//	maxBatchMessages      INVALID_ARGUMENT    a client batch's messages (batchChecker)
//	maxMessageBytes       RESOURCE_EXHAUSTED  any message received, task or result; not read
//	maxSessionsPerClient  RESOURCE_EXHAUSTED  open sessions created under one client_id
//	maxStreams            RESOURCE_EXHAUSTED  streaming calls served at once
//	maxStreamsPerTenant   RESOURCE_EXHAUSTED  those of one tenant's keys
//	maxHealthWatches      RESOURCE_EXHAUSTED  health Watch streams (no API key needed)
//	firstBatchTimeout     DEADLINE_EXCEEDED   a client stream naming no session and sending no batch
//	maxConcurrentStreams  none: HTTP/2 waits  streams of one connection
//	keepalive*, maxConnectionIdle  closes     dead connections, and connections without streams
//
// maxMessageBytes is at least maxBatchBytes, so a batch between the two is
// decoded and refused with INVALID_ARGUMENT (docs/design.md, Delivery), and
// only a larger one is cut off by gRPC before it is read.

// limits is the Server's bookkeeping for maxStreams and
// maxSessionsPerClient.
type limits struct {
	streams atomic.Int64
	watches atomic.Int64 // health Watch streams

	mu struct {
		sync.Mutex
		// byClient holds the sessions created under each client_id, ""
		// for those created without one; closed ones are pruned lazily.
		byClient map[string][]*session.Session
		tracked  int // sessions in byClient, open or not
		// byTenant counts the open streams of each tenant's keys.
		byTenant map[string]int
	}
}

var (
	errTooManySessions = errors.New("queuemanager: too many sessions")
	errTooManyStreams  = errors.New("queuemanager: too many streams")
	errTooManyMessages = fmt.Errorf("%w: too many messages", errInvalidBatch)
)

// openStream counts a streaming call against maxStreams, and a call with a
// tenant's key against its maxStreamsPerTenant; release ends it.
func (s *Server) openStream(ctx context.Context) (release func(), err error) {
	if n := s.limits.streams.Add(1); n > int64(s.opts.MaxStreams) {
		s.limits.streams.Add(-1)
		s.metrics.refused[limitStreams].Inc()
		return nil, toStatus(fmt.Errorf("%w: %d streams open, maxStreams is %d", errTooManyStreams, n-1, s.opts.MaxStreams))
	}
	tenant := auth.FromContext(ctx).Tenant
	if tenant == "" {
		return func() { s.limits.streams.Add(-1) }, nil
	}
	l := &s.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.byTenant == nil {
		l.mu.byTenant = make(map[string]int)
	}
	if n := l.mu.byTenant[tenant]; n >= s.opts.MaxStreamsPerTenant {
		l.streams.Add(-1)
		s.metrics.refused[limitTenantStreams].Inc()
		return nil, toStatus(fmt.Errorf("%w: tenant %q has %d streams open, maxStreamsPerTenant is %d", errTooManyStreams, tenant, n, s.opts.MaxStreamsPerTenant))
	}
	l.mu.byTenant[tenant]++
	return func() {
		l.streams.Add(-1)
		l.mu.Lock()
		if l.mu.byTenant[tenant]--; l.mu.byTenant[tenant] == 0 {
			delete(l.mu.byTenant, tenant)
		}
		l.mu.Unlock()
	}, nil
}

// createSession runs create unless the client already has
// maxSessionsPerClient open sessions. clientID is the one in the request,
// before the registry gives an empty one a ULID, so that sessions created
// without a client_id share one quota instead of escaping it. A session
// stays counted under the client_id it was created with.
func (s *Server) createSession(clientID string, create func() (*session.Session, error)) (*session.Session, error) {
	l := &s.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.byClient == nil {
		l.mu.byClient = make(map[string][]*session.Session)
	}
	open := l.prune(clientID)
	if len(open) >= s.opts.MaxSessionsPerClient {
		s.metrics.refused[limitSessions].Inc()
		who := fmt.Sprintf("client_id %q has", clientID)
		if clientID == "" {
			who = "sessions without a client_id have"
		}
		return nil, fmt.Errorf("%w: %s %d open, maxSessionsPerClient is %d",
			errTooManySessions, who, len(open), s.opts.MaxSessionsPerClient)
	}
	sess, err := create()
	if err != nil {
		return nil, err
	}
	l.mu.byClient[clientID] = append(open, sess)
	l.mu.tracked++
	// Clients that never come back would keep their closed sessions
	// here; sweeping when half the entries may be closed keeps the cost
	// amortised O(1) per session.
	if l.mu.tracked > 2*s.sessions.Len()+64 {
		for id := range l.mu.byClient {
			l.prune(id)
		}
	}
	return sess, nil
}

// prune drops the client's closed sessions and returns its open ones.
func (l *limits) prune(clientID string) []*session.Session {
	all := l.mu.byClient[clientID]
	open := all[:0]
	for _, sess := range all {
		if !sess.Done() {
			open = append(open, sess)
		}
	}
	clear(all[len(open):]) // let the closed sessions be collected
	l.mu.tracked -= len(all) - len(open)
	if len(open) == 0 {
		delete(l.mu.byClient, clientID)
	} else {
		l.mu.byClient[clientID] = open
	}
	return open
}

// limited is the Server as registered: every streaming call holds one of
// maxStreams.
type limited struct{ *Server }

func (l limited) ClientStream(stream grpc.BidiStreamingServer[pb.Batch, pb.Batch]) error {
	release, err := l.openStream(stream.Context())
	if err != nil {
		return err
	}
	defer release()
	return l.Server.ClientStream(batches{stream, l.Server})
}

func (l limited) ClientStreamDeadLetters(in *pb.Session, stream grpc.ServerStreamingServer[pb.Batch]) error {
	release, err := l.openStream(stream.Context())
	if err != nil {
		return err
	}
	defer release()
	return l.Server.ClientStreamDeadLetters(in, stream)
}

func (l limited) WorkerUpdate(stream grpc.BidiStreamingServer[pb.WorkerState, pb.Instruction]) error {
	release, err := l.openStream(stream.Context())
	if err != nil {
		return err
	}
	defer release()
	return l.Server.WorkerUpdate(stream)
}

func (l limited) WorkerStream(stream grpc.BidiStreamingServer[pb.Batch, pb.Batch]) error {
	release, err := l.openStream(stream.Context())
	if err != nil {
		return err
	}
	defer release()
	return l.Server.WorkerStream(batches{stream, l.Server})
}

// batches counts the batches gRPC refuses over maxMessageBytes.
type batches struct {
	grpc.BidiStreamingServer[pb.Batch, pb.Batch]
	s *Server
}

func (c batches) Recv() (*pb.Batch, error) {
	b, err := c.BidiStreamingServer.Recv()
	if err != nil {
		// gRPC has already ended the stream with its own status, which
		// gives the size and the limit.
		if status.Code(err) == codes.ResourceExhausted {
			c.s.metrics.refused[limitMessageBytes].Inc()
		}
		return nil, err
	}
	return b, nil
}

// ServerOptions are the gRPC server options that enforce the transport
// limits: maxMessageBytes, maxConcurrentStreams and keepalive. Give them
// after grpctune's, which they override.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(s.opts.MaxMessageBytes)),
		grpc.MaxConcurrentStreams(uint32(s.opts.MaxConcurrentStreams)),
		grpc.ChainStreamInterceptor(s.limitHealthWatches),
	}, s.opts.Keepalive.ServerOptions()...)
}

// healthWatch is the health service's streaming method, which needs no
// API key (probes carry none) and so needs a bound of its own.
const healthWatch = "/grpc.health.v1.Health/Watch"

// limitHealthWatches refuses health Watch streams beyond maxHealthWatches.
func (s *Server) limitHealthWatches(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod != healthWatch {
		return handler(srv, ss)
	}
	if n := s.limits.watches.Add(1); n > int64(s.opts.MaxHealthWatches) {
		s.limits.watches.Add(-1)
		s.metrics.refused[limitHealthWatches].Inc()
		return status.Errorf(codes.ResourceExhausted, "%d health watches open, maxHealthWatches is %d", n-1, s.opts.MaxHealthWatches)
	}
	defer s.limits.watches.Add(-1)
	return handler(srv, ss)
}
