package queuemanager

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/alpcrun/alpcrun/core/session"
	"github.com/alpcrun/alpcrun/internal/version"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/internal/auth"
)

// adminServer implements the Admin service over the queue manager's own
// state; who sees which session is decided by visibleTo.
type adminServer struct {
	pb.UnsafeAdminServer
	s *Server
}

// Page sizes of ListSessions and ListWorkers.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

var errBadPage = errors.New("queuemanager: invalid page")

// visibleTo returns whether the caller of ctx may see a session: a key
// with role admin sees all, one without role client none, one with a
// tenant its tenant's; otherwise, with requireClientID, a caller that
// presents metadata "clientid" sees only its own sessions, and every other
// caller sees all (see the Admin service's comment in alpcrun.proto).
func (s *Server) visibleTo(ctx context.Context) func(*session.Session) bool {
	switch who := auth.FromContext(ctx); {
	case who.Can(auth.RoleAdmin):
		return func(*session.Session) bool { return true }
	case !who.Can(auth.RoleClient):
		return func(*session.Session) bool { return false }
	case who.Tenant != "":
		return func(sess *session.Session) bool {
			return subtle.ConstantTimeCompare([]byte(sess.Attributes().ClientID), []byte(who.Tenant)) == 1
		}
	}
	id := mdValue(ctx, "clientid")
	if !s.opts.RequireClientID || id == "" {
		return func(*session.Session) bool { return true }
	}
	return func(sess *session.Session) bool {
		return subtle.ConstantTimeCompare([]byte(sess.Attributes().ClientID), []byte(id)) == 1
	}
}

// visibleSession returns session id if the caller may see it; a session
// it may not see is NOT_FOUND, as one that does not exist.
func (s *Server) visibleSession(ctx context.Context, id string) (*session.Session, error) {
	if id == "" {
		return nil, toStatus(fmt.Errorf("%w: session id is required", session.ErrInvalid))
	}
	sess, err := s.sessions.Get(id)
	if err == nil && !s.visibleTo(ctx)(sess) {
		err = fmt.Errorf("%w: %q", session.ErrNotFound, id)
	}
	return sess, toStatus(err)
}

// countDead adds n dead-lettered tasks to the counts of the session that
// batch b belongs to.
func (s *Server) countDead(b *pb.Batch, n int) {
	if sess, err := s.sessions.Get(b.SessionId); err == nil {
		sess.Counts().Dead.Add(int64(n))
	}
}

// workerSnap is a registered worker as the admin API reports it.
type workerSnap struct {
	w         *worker
	state     pb.WorkerState_State
	session   string
	lastSeen  time.Time
	inflight  int
	tasksDone int64
}

// snapWorkers reads every worker, with its batches in flight over all
// sessions, in id order.
func (s *Server) snapWorkers() []workerSnap {
	inflight := map[string]int{}
	for _, sess := range s.sessions.All() {
		sess.WorkerInflight(func(w string, n int) { inflight[w] += n })
	}
	all := s.workers.all()
	out := make([]workerSnap, 0, len(all))
	for _, w := range all {
		w.mu.Lock()
		snap := workerSnap{w: w, session: w.mu.binding, lastSeen: w.mu.lastSeen,
			inflight: inflight[w.id], tasksDone: w.done.Load(), state: pb.WorkerState_IDLE}
		switch {
		case w.mu.state == pb.WorkerState_DRAINING:
			snap.state = pb.WorkerState_DRAINING
		case w.mu.binding != "":
			snap.state = pb.WorkerState_BOUND
		}
		w.mu.Unlock()
		out = append(out, snap)
	}
	slices.SortFunc(out, func(a, b workerSnap) int { return cmp.Compare(a.w.id, b.w.id) })
	return out
}

// registered is when worker id registered: worker ids are ULIDs made then.
func registered(id string) time.Time {
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return time.Time{}
	}
	return ulid.Time(u.Time())
}

func (ws workerSnap) proto() *pb.WorkerInfo {
	info := &pb.WorkerInfo{
		Id: ws.w.id, Node: ws.w.node, Pod: ws.w.pod, State: ws.state, SessionId: ws.session,
		InflightBatches: uint32(ws.inflight), TasksDone: uint64(ws.tasksDone),
		LastHeartbeat: timestamppb.New(ws.lastSeen),
	}
	if t := registered(ws.w.id); !t.IsZero() {
		info.Registered = timestamppb.New(t)
	}
	return info
}

// boundWorkers maps session ids to the ids of the workers bound to them.
func boundWorkers(ws []workerSnap) map[string][]string {
	m := map[string][]string{}
	for _, w := range ws {
		if w.session != "" {
			m[w.session] = append(m[w.session], w.w.id)
		}
	}
	return m
}

// taskCounts returns a session's tasks queued and in flight, and its
// batches in flight.
func taskCounts(sess *session.Session) (queued, inflight int64, batchesInflight int) {
	q, f := sess.Tasks()
	return int64(q), int64(f), sess.Inflight()
}

// sessionInfo reads one session's numbers.
func (s *Server) sessionInfo(sess *session.Session, bound map[string][]string, now time.Time) *pb.SessionInfo {
	c := sess.Counts()
	done, dead, accepted := c.Done.Load(), c.Dead.Load(), c.Accepted.Load()
	batchesQueued, resultsUnread, _ := sess.Depths()
	queued, tasksInflight, batchesInflight := taskCounts(sess)
	return &pb.SessionInfo{
		Session:         toProto(sess),
		TasksQueued:     uint64(queued),
		TasksInflight:   uint64(tasksInflight),
		TasksDone:       uint64(done),
		TasksDead:       uint64(dead),
		TasksAccepted:   uint64(accepted),
		BatchesQueued:   uint32(batchesQueued),
		BatchesInflight: uint32(batchesInflight),
		ResultsUnread:   uint32(resultsUnread),
		Workers:         bound[sess.ID],
		Created:         timestamppb.New(sess.Created()),
		IdleFor:         durationpb.New(max(0, now.Sub(sess.LastActivity()))),
		Idle:            sess.Idle(),
		Attached:        sess.Attached(),
	}
}

// visibleSessions returns the sessions the caller sees, in id order.
func (s *Server) visibleSessions(ctx context.Context) []*session.Session {
	see := s.visibleTo(ctx)
	all := s.sessions.All()
	out := all[:0]
	for _, sess := range all {
		if see(sess) {
			out = append(out, sess)
		}
	}
	slices.SortFunc(out, func(a, b *session.Session) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// page cuts the items after the page token's id, page size at a time; the
// token names its listing (kind) so that one listing's token is refused by
// another.
func page[T any](items []T, id func(T) string, kind string, size int32, token string) ([]T, string, error) {
	if size < 0 {
		return nil, "", toStatus(fmt.Errorf("%w: negative page_size %d", errBadPage, size))
	}
	n := int(size)
	if n == 0 {
		n = defaultPageSize
	}
	n = min(n, maxPageSize)
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		after, ok := strings.CutPrefix(string(raw), kind+":")
		if err != nil || !ok {
			return nil, "", toStatus(fmt.Errorf("%w: page_token is not one of this listing", errBadPage))
		}
		start, _ = slices.BinarySearchFunc(items, after, func(it T, after string) int {
			if id(it) <= after {
				return -1
			}
			return 1
		})
	}
	end := min(len(items), start+n)
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + id(items[end-1])))
	}
	return items[start:end], next, nil
}

// ListSessions implements pb.AdminServer.
func (a adminServer) ListSessions(ctx context.Context, in *pb.ListSessionsRequest) (*pb.ListSessionsResponse, error) {
	s := a.s
	sessions, next, err := page(s.visibleSessions(ctx), func(x *session.Session) string { return x.ID }, "s", in.GetPageSize(), in.GetPageToken())
	if err != nil {
		return nil, err
	}
	bound := boundWorkers(s.snapWorkers())
	now := s.now()
	out := &pb.ListSessionsResponse{NextPageToken: next, Sessions: make([]*pb.SessionInfo, len(sessions))}
	for i, sess := range sessions {
		out.Sessions[i] = s.sessionInfo(sess, bound, now)
	}
	return out, nil
}

// GetSession implements pb.AdminServer.
func (a adminServer) GetSession(ctx context.Context, in *pb.GetSessionRequest) (*pb.SessionInfo, error) {
	sess, err := a.s.visibleSession(ctx, in.GetId())
	if err != nil {
		return nil, err
	}
	return a.s.sessionInfo(sess, boundWorkers(a.s.snapWorkers()), a.s.now()), nil
}

// ListWorkers implements pb.AdminServer.
func (a adminServer) ListWorkers(_ context.Context, in *pb.ListWorkersRequest) (*pb.ListWorkersResponse, error) {
	ws, next, err := page(a.s.snapWorkers(), func(w workerSnap) string { return w.w.id }, "w", in.GetPageSize(), in.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &pb.ListWorkersResponse{NextPageToken: next, Workers: make([]*pb.WorkerInfo, len(ws))}
	for i, w := range ws {
		out.Workers[i] = w.proto()
	}
	return out, nil
}

// CloseSession implements pb.AdminServer.
func (a adminServer) CloseSession(ctx context.Context, in *pb.CloseSessionRequest) (*pb.Status, error) {
	if _, err := a.s.visibleSession(ctx, in.GetId()); err != nil {
		return nil, err
	}
	d, err := a.s.sessions.Close(in.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	a.s.log.Info("session closed", "session", in.GetId(), "reason", "Admin.CloseSession", "discarded", d.String())
	return &pb.Status{Message: d.String()}, nil
}

// GetClusterStatus implements pb.AdminServer.
func (a adminServer) GetClusterStatus(ctx context.Context, _ *pb.GetClusterStatusRequest) (*pb.ClusterStatus, error) {
	return a.s.clusterStatus(ctx), nil
}

func (s *Server) clusterStatus(ctx context.Context) *pb.ClusterStatus {
	v := version.Get()
	st := &pb.ClusterStatus{
		Version: v.Version, Revision: v.Revision, Started: timestamppb.New(s.dash.started),
		Scheduler: string(s.opts.Scheduler), QueueType: string(s.opts.QueueType),
		TasksAcceptedTotal: uint64(counterValue(s.metrics.accepted)),
		TasksDoneTotal:     uint64(counterValue(s.metrics.done)),
		TasksDeadTotal:     uint64(counterValue(s.metrics.dead) + counterValue(s.metrics.failed)),
	}
	ws := s.snapWorkers()
	st.Workers = uint32(len(ws))
	for _, w := range ws {
		switch w.state {
		case pb.WorkerState_IDLE:
			st.WorkersIdle++
		case pb.WorkerState_BOUND:
			st.WorkersBound++
		case pb.WorkerState_DRAINING:
			st.WorkersDraining++
		}
	}
	for _, sess := range s.visibleSessions(ctx) {
		st.Sessions++
		queued, inflight, _ := taskCounts(sess)
		st.TasksQueued += uint64(queued)
		st.TasksInflight += uint64(inflight)
		st.TasksDead += uint64(sess.Counts().Dead.Load())
	}
	return st
}

// counterValue reads a Prometheus counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if c.Write(&m) != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
