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

// schedLoop feeds events to the scheduler and applies its decisions. Events
// only mark sessions and workers dirty and wake the loop, so the hot paths
// never wait for a scheduling decision; one goroutine owns the scheduler.
type schedLoop struct {
	s     *Server
	sched *scheduler.Scheduler
	wake  chan struct{}
	// contended: a session with pending tasks has no worker and none is
	// free. Set when the loop sees it, cleared at the tick that no longer does.
	contended atomic.Bool

	mu struct {
		sync.Mutex
		sessions map[*session.Session]struct{}
		workers  map[*worker]struct{}
		ended    []streamEnd
		finished map[*session.Session]struct{}
	}

	// Owned by the loop goroutine.
	known   map[string]*session.Session
	workers map[*worker]*workerView
	// drained holds sessions seen with no pending or in-flight batch at
	// the last tick; parked those whose workers were handed back for it.
	drained map[string]bool
	parked  map[string]bool
	// bound counts the workers bound (or unbinding) per session.
	bound map[string]int
	// waiting: sessions last seen with pending tasks and no worker;
	// finished: sessions last seen with every task answered. Kept so the
	// check after each event looks at these few, not at every session.
	waiting  map[string]bool
	finished map[*session.Session]bool
}

type streamEnd struct {
	w         *worker
	sessionID string
}

// workerView is what the scheduler was told about a worker.
type workerView struct {
	session   string
	unbinding bool
	draining  bool
}

func newSchedLoop(s *Server) (*schedLoop, error) {
	sc, err := scheduler.New(s.opts.Scheduler, scheduler.Options{Preemption: s.opts.Preemption})
	if err != nil {
		return nil, err
	}
	l := &schedLoop{s: s, sched: sc, wake: make(chan struct{}, 1),
		known: make(map[string]*session.Session), workers: make(map[*worker]*workerView),
		drained: make(map[string]bool), parked: make(map[string]bool), bound: make(map[string]int),
		waiting: make(map[string]bool), finished: make(map[*session.Session]bool)}
	l.mu.sessions = make(map[*session.Session]struct{})
	l.mu.workers = make(map[*worker]struct{})
	l.mu.finished = make(map[*session.Session]struct{})
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

func (l *schedLoop) workerChanged(w *worker) {
	l.mu.Lock()
	l.mu.workers[w] = struct{}{}
	l.mu.Unlock()
	l.poke()
}

// sessionDrained reports that every task of sess has its outcome. The loop
// is woken only when sessions wait for workers (it may park sess then); an
// uncontended session answering one task at a time costs a map insert.
func (l *schedLoop) sessionDrained(sess *session.Session) {
	l.mu.Lock()
	l.mu.finished[sess] = struct{}{}
	l.mu.Unlock()
	if l.contended.Load() {
		l.poke()
	}
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
			l.apply()
		case <-t.C:
			l.tick()
			l.apply()
		}
	}
}

// tick applies the time rules and refreshes every session's demand.
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
	l.park()
	l.mu.Lock()
	for _, sess := range l.known {
		l.mu.sessions[sess] = struct{}{}
	}
	l.mu.Unlock()
}

// park hands back the workers of sessions that have had nothing to do for
// a whole tick while other sessions wait for workers and none is free. The
// scheduler keeps a drained session's workers (it cannot know whether more
// tasks are coming); without this a finished but open session would hold
// them until idle_timeout. A parked session asks again with its next task.
func (l *schedLoop) park() {
	contended := l.starving()
	l.contended.Store(contended)
	for id, sess := range l.known {
		drained := sess.Pending() == 0 && sess.Inflight() == 0
		if !drained {
			delete(l.drained, id)
			continue
		}
		if contended && l.drained[id] && !l.parked[id] {
			l.parked[id] = true
			l.s.log.Debug("session parked", "session", id)
		}
		l.drained[id] = true
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

func (l *schedLoop) apply() {
	l.mu.Lock()
	sessions, workers, ended := l.mu.sessions, l.mu.workers, l.mu.ended
	l.mu.sessions = make(map[*session.Session]struct{}, len(sessions))
	l.mu.workers = make(map[*worker]struct{}, len(workers))
	l.mu.ended = nil
	for sess := range l.mu.finished {
		l.finished[sess] = true
	}
	clear(l.mu.finished)
	l.mu.Unlock()
	start, events := time.Now(), len(sessions)+len(workers)+len(ended)
	defer func() {
		l.handOver()
		l.s.metrics.schedPass.Observe(time.Since(start).Seconds())
		l.s.metrics.schedEvents.Add(float64(events))
	}()

	// Closed sessions first, so that a worker freed below is not bound
	// to a session that is already gone.
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
}

func (l *schedLoop) updateWorker(w *worker) {
	v, known := l.workers[w]
	select {
	case <-w.gone:
		if known {
			l.unbound(v.session)
			delete(l.workers, w)
			l.do(l.sched.RemoveWorker(w.id))
		}
		return
	default:
	}
	if !known {
		// Demand may be stale since the last tick (sessions that drained
		// since); refresh it before the new worker is handed out.
		for _, sess := range l.known {
			l.do(l.sched.SetPending(sess.ID, sess.Pending()))
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
	}
}

// starving reports whether a session with pending tasks has no worker while
// none is free and other sessions hold some: the case parking helps.
func (l *schedLoop) starving() bool {
	if st := l.sched.Stats(); st.Idle > 0 || st.Bound == 0 {
		return false
	}
	for id, sess := range l.known {
		if l.bound[id] == 0 && sess.Pending() > 0 {
			return true
		}
	}
	return false
}

// handOver runs after every batch of events: while a session waits for a
// worker and none is free, sessions that have answered every task give
// theirs back at once (they are parked until their next task).
func (l *schedLoop) handOver() {
	contended := l.waitingNow()
	l.contended.Store(contended)
	if !contended {
		return
	}
	for sess := range l.finished {
		delete(l.finished, sess)
		id := sess.ID
		if _, ok := l.known[id]; !ok || l.bound[id] == 0 || l.parked[id] ||
			sess.Outstanding() != 0 || sess.Inflight() != 0 || sess.Pending() != 0 {
			continue
		}
		l.parked[id] = true
		l.do(l.sched.SetIdle(id, true))
	}
}

// waitingNow is starving over the sessions recorded as waiting.
func (l *schedLoop) waitingNow() bool {
	if st := l.sched.Stats(); st.Idle > 0 || st.Bound == 0 {
		return false
	}
	for id := range l.waiting {
		sess, ok := l.known[id]
		if !ok || l.bound[id] > 0 || sess.Pending() == 0 {
			delete(l.waiting, id)
			continue
		}
		return true
	}
	return false
}

func (l *schedLoop) unbound(sessionID string) {
	if sessionID == "" {
		return
	}
	if l.bound[sessionID]--; l.bound[sessionID] <= 0 {
		delete(l.bound, sessionID)
	}
}

// idle tells the scheduler that w left its session.
func (l *schedLoop) idle(w *worker, v *workerView) {
	l.unbound(v.session)
	v.session, v.unbinding = "", false
	if v.draining {
		return // a draining worker takes no new session
	}
	l.do(l.sched.WorkerIdle(w.id))
}

func (l *schedLoop) updateSession(sess *session.Session) {
	_, known := l.known[sess.ID]
	if sess.Done() {
		if known {
			delete(l.known, sess.ID)
			delete(l.drained, sess.ID)
			delete(l.parked, sess.ID)
			delete(l.waiting, sess.ID)
			delete(l.finished, sess)
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
	pending := sess.Pending()
	if pending > 0 {
		delete(l.parked, sess.ID)
		delete(l.finished, sess)
		if l.bound[sess.ID] == 0 {
			l.waiting[sess.ID] = true
		}
	}
	// A session whose client does not read its results gets no worker
	// until it does: its workers would only pile up results, and other
	// sessions need them.
	l.do(l.sched.SetIdle(sess.ID, sess.Idle() || l.parked[sess.ID] || sess.ResultsFull()))
	l.do(l.sched.SetPending(sess.ID, pending))
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
			l.unbound(v.session)
			v.session = d.Session
			l.bound[d.Session]++
			w.bind(d.Session)
			w.send(&pb.Instruction{Type: pb.Instruction_BIND, SessionId: d.Session,
				MaxInflightBatches: sess.Attributes().MaxInflight})
			l.s.log.Info("worker bound", "worker", w.id, "session", d.Session)
		case scheduler.Unbind:
			v.unbinding = true
			w.unbindFrom(d.Session)
			w.send(&pb.Instruction{Type: pb.Instruction_UNBIND, SessionId: d.Session})
			l.s.log.Info("worker unbound", "worker", w.id, "session", d.Session, "reason", d.Reason.String())
			if w.streams() == 0 {
				l.idle(w, v)
			}
		}
	}
}
