package queuemanager

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alpcrun/alpcrun/core/scheduler"
	"github.com/alpcrun/alpcrun/core/session"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// schedLoop feeds events to the scheduler (core/scheduler, where the rules
// live) and turns its decisions into BIND and UNBIND instructions. Events
// only mark sessions and workers dirty and wake the loop, so the hot paths
// never wait for a scheduling decision; one goroutine owns the scheduler.
type schedLoop struct {
	s     *Server
	sched *scheduler.Scheduler
	wake  chan struct{}
	// contended: a session wants workers and has none, and none is free,
	// so a session running out of work should be looked at now, not at
	// the next tick (it gives its workers up).
	contended atomic.Bool

	mu struct {
		sync.Mutex
		sessions map[*session.Session]struct{}
		workers  map[*worker]struct{}
		ended    []streamEnd
		drained  map[*session.Session]struct{}
	}

	// Owned by the loop goroutine: the sessions and workers the scheduler
	// knows, and for each worker the session it serves or is leaving.
	known   map[string]*session.Session
	workers map[*worker]*workerView
	// drained: sessions that answered every task since the scheduler last
	// looked at them while it was contended; their workers may go to a
	// starving session (core/scheduler's drained rule).
	drained map[*session.Session]struct{}
}

type streamEnd struct {
	w         *worker
	sessionID string
}

type workerView struct {
	session  string
	draining bool
}

func newSchedLoop(s *Server) (*schedLoop, error) {
	sc, err := scheduler.New(string(s.opts.Scheduler), scheduler.Options{Preemption: s.opts.Preemption})
	if err != nil {
		return nil, err
	}
	l := &schedLoop{s: s, sched: sc, wake: make(chan struct{}, 1),
		known: make(map[string]*session.Session), workers: make(map[*worker]*workerView),
		drained: make(map[*session.Session]struct{})}
	l.mu.sessions = make(map[*session.Session]struct{})
	l.mu.drained = make(map[*session.Session]struct{})
	l.mu.workers = make(map[*worker]struct{})
	return l, nil
}

func (l *schedLoop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *schedLoop) sessionChanged(sess *session.Session) {
	l.mu.Lock()
	l.mu.sessions[sess] = struct{}{}
	l.mu.Unlock()
	l.poke()
}

// sessionDrained reports that every task of sess has its outcome. It
// matters only while a session waits for a worker: the loop is woken then,
// and otherwise looks at sess when that happens.
func (l *schedLoop) sessionDrained(sess *session.Session) {
	l.mu.Lock()
	l.mu.drained[sess] = struct{}{}
	l.mu.Unlock()
	if l.contended.Load() {
		l.poke()
	}
}

func (l *schedLoop) workerChanged(w *worker) {
	l.mu.Lock()
	l.mu.workers[w] = struct{}{}
	l.mu.Unlock()
	l.poke()
}

// streamEnded reports that w's WorkerStream for a session ended: the
// worker has left that session (after UNBIND, or on its own).
func (l *schedLoop) streamEnded(w *worker, sessionID string) {
	l.mu.Lock()
	l.mu.ended = append(l.mu.ended, streamEnd{w, sessionID})
	l.mu.Unlock()
	l.poke()
}

func (l *schedLoop) run(ctx context.Context) {
	t := time.NewTicker(l.s.opts.SchedulerInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-t.C:
			l.tick()
		}
		l.apply()
	}
}

// tick applies the time rules and marks every session for a fresh look at
// its work.
func (l *schedLoop) tick() {
	now := l.s.now()
	res := l.s.sessions.Sweep(now)
	for _, id := range res.Expired {
		l.s.log.Info("session closed", "session", id, "reason", "sessionExpiry")
	}
	for _, sess := range res.Idled {
		l.s.log.Info("session idle", "session", sess.ID)
	}
	if res.Redelivered > 0 {
		l.s.log.Debug("task timeouts", "batches", res.Redelivered)
	}
	for _, w := range l.s.workers.all() {
		w.mu.Lock()
		late := now.Sub(w.mu.lastSeen) > l.s.opts.WorkerTimeout
		w.mu.Unlock()
		if late {
			l.s.log.Warn("worker timed out", "worker", w.id, "node", w.node, "pod", w.pod)
			w.markGone()
		}
	}
	l.mu.Lock()
	for _, sess := range l.known {
		l.mu.sessions[sess] = struct{}{}
	}
	l.mu.Unlock()
}

func (l *schedLoop) apply() {
	l.mu.Lock()
	sessions, workers, ended := l.mu.sessions, l.mu.workers, l.mu.ended
	l.mu.sessions = make(map[*session.Session]struct{}, len(sessions))
	l.mu.workers = make(map[*worker]struct{}, len(workers))
	l.mu.ended = nil
	for sess := range l.mu.drained {
		l.drained[sess] = struct{}{}
	}
	clear(l.mu.drained)
	l.mu.Unlock()
	start, events := time.Now(), len(sessions)+len(workers)+len(ended)

	// Closed sessions first, so that a worker freed below is not bound to
	// a session that is already gone.
	for sess := range sessions {
		if sess.Done() {
			l.updateSession(sess)
			delete(sessions, sess)
		}
	}
	for w := range workers {
		l.updateWorker(w)
	}
	for _, e := range ended {
		if v, ok := l.workers[e.w]; ok && v.session == e.sessionID {
			e.w.unbindFrom(e.sessionID)
			l.idle(e.w, v)
		}
	}
	for sess := range sessions {
		l.updateSession(sess)
	}
	if l.sched.Starving() {
		for sess := range l.drained {
			if _, ok := l.known[sess.ID]; ok {
				l.setWork(sess)
			}
		}
		clear(l.drained)
	}
	l.contended.Store(l.sched.Starving())
	l.s.metrics.schedPass.Observe(time.Since(start).Seconds())
	l.s.metrics.schedEvents.Add(float64(events))
}

func (l *schedLoop) updateWorker(w *worker) {
	v, known := l.workers[w]
	select {
	case <-w.gone:
		if known {
			delete(l.workers, w)
			l.do(l.sched.RemoveWorker(w.id))
			l.countBound(v.session)
		}
		return
	default:
	}
	if !known {
		// Work may be stale since the last tick (sessions that drained
		// since); refresh it before the new worker is handed out.
		for _, sess := range l.known {
			l.setWork(sess)
		}
		v = &workerView{}
		l.workers[w] = v
		l.do(l.sched.AddWorker(w.id))
	}
	w.mu.Lock()
	draining := w.mu.state == pb.WorkerState_DRAINING
	w.mu.Unlock()
	if draining && !v.draining {
		v.draining = true
		l.do(l.sched.WorkerDraining(w.id))
		l.countBound(v.session)
	}
}

// idle tells the scheduler that w left its session.
func (l *schedLoop) idle(w *worker, v *workerView) {
	left := v.session
	v.session = ""
	if !v.draining { // a draining worker takes no new session
		l.do(l.sched.WorkerIdle(w.id))
	}
	l.countBound(left)
}

func (l *schedLoop) updateSession(sess *session.Session) {
	_, known := l.known[sess.ID]
	if sess.Done() {
		if known {
			delete(l.known, sess.ID)
			delete(l.drained, sess)
			l.do(l.sched.RemoveSession(sess.ID))
		}
		return
	}
	p := params(sess.Attributes())
	if !known {
		if err := l.sched.AddSession(sess.ID, p); err != nil {
			l.s.log.Error("scheduler refused session", "session", sess.ID, "err", err)
			return
		}
		l.known[sess.ID] = sess
	} else {
		l.do(l.sched.UpdateSession(sess.ID, p))
	}
	// A session whose client does not read its results or dead letters
	// gets no worker until it does: its workers would only pile them up,
	// and other sessions need them.
	l.do(l.sched.SetIdle(sess.ID, sess.Idle() || sess.ResultsFull() || sess.DeadFull()))
	l.setWork(sess)
}

func (l *schedLoop) setWork(sess *session.Session) {
	waiting, busy := sess.Work()
	l.do(l.sched.SetWork(sess.ID, scheduler.Work{Waiting: waiting, Busy: busy}))
}

// countBound tells a session how many workers serve it (dispatch splits its
// batches by that number).
func (l *schedLoop) countBound(sessionID string) {
	if sess, ok := l.known[sessionID]; ok {
		sess.SetBound(l.sched.Bound(sessionID))
	}
}

func params(a session.Attributes) scheduler.SessionParams {
	p := scheduler.SessionParams{Priority: int(a.Priority), Preemptible: a.Preemptible}
	if a.MinWorkers != nil {
		p.MinWorkers = int(*a.MinWorkers)
	}
	if a.MaxWorkers != nil {
		p.MaxWorkers, p.HasMax = int(*a.MaxWorkers), true
	}
	return p
}

// do applies decisions: BIND and UNBIND go out on the workers' control
// channels.
func (l *schedLoop) do(ds []scheduler.Decision, err error) {
	if err != nil {
		l.s.log.Error("scheduler", "err", err)
		return
	}
	// Applying an Unbind may produce decisions of its own (WorkerIdle for
	// a worker with no stream), so copy the batch first.
	ds = append([]scheduler.Decision(nil), ds...)
	// Sessions learn their worker count before a BIND goes out, so that
	// the first worker to connect does not take a batch meant for several.
	for _, d := range ds {
		l.countBound(d.Session)
	}
	for _, d := range ds {
		w, ok := l.s.workers.get(d.Worker)
		if !ok {
			continue // gone; its removal event follows
		}
		v := l.workers[w]
		if v == nil {
			continue
		}
		switch d.Action {
		case scheduler.Bind:
			sess, ok := l.known[d.Session]
			if !ok {
				continue
			}
			v.session = d.Session
			w.bind(d.Session)
			w.send(&pb.Instruction{Type: pb.Instruction_BIND, SessionId: d.Session,
				MaxInflightBatches: sess.Attributes().MaxInflight})
			l.s.log.Info("worker bound", "worker", w.id, "session", d.Session)
		case scheduler.Unbind:
			w.unbindFrom(d.Session)
			w.send(&pb.Instruction{Type: pb.Instruction_UNBIND, SessionId: d.Session})
			l.s.log.Info("worker unbound", "worker", w.id, "session", d.Session, "reason", d.Reason.String())
			if w.streams() == 0 {
				l.idle(w, v)
			}
		}
	}
}
