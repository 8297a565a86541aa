package queuemanager

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/alpcrun/alpcrun/core/session"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/internal/auth"
)

func durationArg(name string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, fmt.Errorf("%w: %s: %v", session.ErrInvalid, name, err)
	}
	if d.AsDuration() < 0 {
		return 0, fmt.Errorf("%w: negative %s", session.ErrInvalid, name)
	}
	return d.AsDuration(), nil
}

func fromProto(a *pb.SessionAttributes) (session.Attributes, error) {
	if a == nil {
		return session.Attributes{}, nil
	}
	idle, err := durationArg("idle_timeout", a.IdleTimeout)
	if err != nil {
		return session.Attributes{}, err
	}
	taskTimeout, err := durationArg("task_timeout", a.TaskTimeout)
	if err != nil {
		return session.Attributes{}, err
	}
	return session.Attributes{
		Priority:            a.Priority,
		ClientID:            a.ClientId,
		MinWorkers:          a.MinWorkers,
		MaxWorkers:          a.MaxWorkers,
		IdleTimeout:         idle,
		Preemptible:         a.Preemptible,
		CleanupOnClientExit: a.CleanupOnClientExit,
		MaxInflight:         a.MaxInflightBatchesPerWorker,
		Tags:                a.Tags,
		MaxAttempts:         a.MaxAttempts,
		TaskTimeout:         taskTimeout,
	}, nil
}

// bound holds a session's fields to the server's limits: ids and tags
// beyond maxFieldBytes or maxTags are refused (they would cost every
// response and log line that names them), max_attempts and
// max_inflight_batches_per_worker above maxAttempts and
// maxInflightBatches are lowered to them.
func (s *Server) bound(in *pb.Session, a *session.Attributes) error {
	limit := s.opts.MaxFieldBytes
	for _, f := range []struct{ name, v string }{{"id", in.GetId()}, {"app.id", in.GetApp().GetId()}, {"client_id", a.ClientID}} {
		if len(f.v) > limit {
			s.metrics.refused[limitFieldBytes].Inc()
			return status.Errorf(codes.InvalidArgument, "%s of %d bytes is over maxFieldBytes %d", f.name, len(f.v), limit)
		}
	}
	if len(a.Tags) > s.opts.MaxTags {
		s.metrics.refused[limitTags].Inc()
		return status.Errorf(codes.InvalidArgument, "%d tags are over maxTags %d", len(a.Tags), s.opts.MaxTags)
	}
	for _, t := range a.Tags {
		if len(t) > limit {
			s.metrics.refused[limitFieldBytes].Inc()
			return status.Errorf(codes.InvalidArgument, "a tag of %d bytes is over maxFieldBytes %d", len(t), limit)
		}
	}
	a.MaxAttempts = min(a.MaxAttempts, s.opts.MaxAttempts)
	a.MaxInflight = min(a.MaxInflight, s.opts.MaxInflightBatches)
	return nil
}

func toProto(s *session.Session) *pb.Session {
	a := s.Attributes()
	pa := &pb.SessionAttributes{
		Priority:                    a.Priority,
		ClientId:                    a.ClientID,
		MinWorkers:                  a.MinWorkers,
		MaxWorkers:                  a.MaxWorkers,
		IdleTimeout:                 durationpb.New(a.IdleTimeout),
		Preemptible:                 a.Preemptible,
		CleanupOnClientExit:         a.CleanupOnClientExit,
		MaxInflightBatchesPerWorker: a.MaxInflight,
		Tags:                        a.Tags,
		MaxAttempts:                 a.MaxAttempts,
	}
	if a.TaskTimeout > 0 {
		pa.TaskTimeout = durationpb.New(a.TaskTimeout)
	}
	return &pb.Session{Id: s.ID, App: &pb.App{Id: s.AppID}, Attributes: pa}
}

// checkClient enforces requireClientID: the call must carry the session's
// client_id in metadata "clientid" (compared in constant time).
func (s *Server) checkClient(ctx context.Context, sess *session.Session) error {
	if err := auth.Require(ctx, auth.RoleClient); err != nil {
		return err
	}
	want := sess.Attributes().ClientID
	// A key with a tenant reaches only its tenant's sessions, whatever
	// the server's requireClientID.
	if id := auth.FromContext(ctx); id.Tenant != "" {
		if subtle.ConstantTimeCompare([]byte(id.Tenant), []byte(want)) != 1 {
			return toStatus(fmt.Errorf("%w: %q", errNotYourSession, sess.ID))
		}
		return nil
	}
	if !s.opts.RequireClientID {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(mdValue(ctx, "clientid")), []byte(want)) != 1 {
		return toStatus(fmt.Errorf("%w: %q", errNotYourSession, sess.ID))
	}
	return nil
}

// tenantClient fills in or checks a new session's client_id against the
// caller's tenant: a key with a tenant creates sessions of that tenant
// only, so its sessions, and its quota of them, are its own.
//
// A tenant's session ids start with its name and a colon (an empty id
// becomes TENANT:ULID): no tenant can take an id another one may create or
// re-create, as a client does for a session a restarted queue manager
// lost.
func tenantClient(ctx context.Context, in *pb.Session, a *session.Attributes) (id string, err error) {
	if err := auth.Require(ctx, auth.RoleClient); err != nil {
		return "", err
	}
	who := auth.FromContext(ctx)
	id, tenant := in.GetId(), who.Tenant
	if tenant == "" {
		return id, nil
	}
	switch {
	case a.ClientID == "":
		a.ClientID = tenant
	case a.ClientID != tenant:
		return "", status.Errorf(codes.PermissionDenied, "client_id %q is not the key's tenant %q", a.ClientID, tenant)
	}
	switch prefix := who.SessionPrefix(); {
	case id == "":
		id = prefix + session.NewID()
	case !strings.HasPrefix(id, prefix):
		return "", status.Errorf(codes.PermissionDenied, "session id %q: the sessions of tenant %q have ids starting with %q", id, tenant, prefix)
	}
	return id, nil
}

// owned returns the session if the caller may act on it.
func (s *Server) owned(ctx context.Context, id string) (*session.Session, error) {
	sess, err := s.sessions.Get(id)
	if err != nil {
		return nil, toStatus(err)
	}
	return sess, s.checkClient(ctx, sess)
}

// CreateSession opens a session with defaults filled in.
func (s *Server) CreateSession(ctx context.Context, in *pb.Session) (*pb.Session, error) {
	attrs, err := fromProto(in.GetAttributes())
	if err != nil {
		return nil, toStatus(err)
	}
	id, err := tenantClient(ctx, in, &attrs)
	if err != nil {
		return nil, err
	}
	if err := s.bound(in, &attrs); err != nil {
		return nil, err
	}
	if attrs.TaskTimeout == 0 {
		attrs.TaskTimeout = s.opts.TaskTimeout
	}
	sess, err := s.createSession(attrs.ClientID, func() (*session.Session, error) {
		return s.sessions.Create(id, in.GetApp().GetId(), attrs, s.now())
	})
	if err != nil {
		return nil, toStatus(err)
	}
	s.log.Info("session opened", "session", sess.ID, "app", sess.AppID, "priority", attrs.Priority)
	return toProto(sess), nil
}

// UpdateSession changes the attributes that are set: min/max workers by
// presence, the other scalars when non-zero.
func (s *Server) UpdateSession(ctx context.Context, in *pb.Session) (*pb.Status, error) {
	if in.GetId() == "" {
		return nil, toStatus(fmt.Errorf("%w: session id is required", session.ErrInvalid))
	}
	if _, err := s.owned(ctx, in.GetId()); err != nil {
		return nil, err
	}
	upd, err := fromProto(in.GetAttributes())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.bound(in, &upd); err != nil {
		return nil, err
	}
	pa := in.GetAttributes()
	_, err = s.sessions.Update(in.GetId(), func(a *session.Attributes) {
		if pa == nil {
			return
		}
		// Scalars change when set (non-zero), as the proto says; so a
		// boolean can be turned on here but not off.
		if upd.Priority != 0 {
			a.Priority = upd.Priority
		}
		if upd.Preemptible {
			a.Preemptible = true
		}
		if upd.CleanupOnClientExit {
			a.CleanupOnClientExit = true
		}
		if upd.MinWorkers != nil {
			a.MinWorkers = upd.MinWorkers
		}
		if upd.MaxWorkers != nil {
			a.MaxWorkers = upd.MaxWorkers
		}
		if upd.IdleTimeout != 0 {
			a.IdleTimeout = upd.IdleTimeout
		}
		if upd.MaxInflight != 0 {
			a.MaxInflight = upd.MaxInflight
		}
		if upd.MaxAttempts != 0 {
			a.MaxAttempts = upd.MaxAttempts
		}
		if upd.TaskTimeout != 0 {
			a.TaskTimeout = upd.TaskTimeout
		}
		if upd.ClientID != "" {
			a.ClientID = upd.ClientID
		}
		if len(upd.Tags) > 0 {
			a.Tags = upd.Tags
		}
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.Status{Message: "updated"}, nil
}

// CloseSession unbinds the workers and discards everything queued.
func (s *Server) CloseSession(ctx context.Context, in *pb.Session) (*pb.Status, error) {
	if in.GetId() == "" {
		return nil, toStatus(fmt.Errorf("%w: session id is required", session.ErrInvalid))
	}
	if _, err := s.owned(ctx, in.GetId()); err != nil {
		return nil, err
	}
	d, err := s.sessions.Close(in.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	s.log.Info("session closed", "session", in.GetId(), "reason", "CloseSession", "discarded", d.String())
	return &pb.Status{Message: d.String()}, nil
}

// ClientStreamDeadLetters streams and removes the session's dead letters.
func (s *Server) ClientStreamDeadLetters(in *pb.Session, stream grpc.ServerStreamingServer[pb.Batch]) error {
	sess, err := s.owned(stream.Context(), in.GetId())
	if err != nil {
		return err
	}
	dead := sess.TakeDead()
	var b *pb.Batch
	ans := &session.Answer{ID: func(i int) string { return b.Messages[i].Id }}
	for i, t := range dead {
		b = deadBatch(sess.ID, t)
		ans.N = len(b.Messages)
		sess.Sending(ans)
		if err := stream.Send(b); err != nil {
			sess.Unsent(ans)
			// The client went away: keep what it did not get.
			for _, t := range dead[i:] {
				_ = sess.OfferDead(t)
			}
			return err
		}
		if resent := sess.Sent(ans); resent != nil {
			// Resubmitted during the write (client.go's sendResults says
			// why): keep those dead letters, and their bytes, for the next
			// read.
			r := *t
			r.Payload, r.N = pickMessages(b, resent), len(resent)
			_ = sess.OfferDead(&r)
		} else {
			sess.Delivered(t.Bytes)
		}
	}
	return nil
}

// deadBatch renders a dead-lettered task; tasks that failed for a reason of
// the queue manager's own carry it in every message's error.
func deadBatch(sessionID string, t *session.Batch) *pb.Batch {
	b := t.Payload.(*pb.Batch)
	b.SessionId = sessionID
	if t.Err != "" {
		for _, m := range b.Messages {
			if m.Error == "" {
				m.Error = t.Err
			}
		}
	}
	return b
}
