package scheduler

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// Sentinel errors. Services map them to gRPC codes in one table.
var (
	// ErrUnknownPolicy is returned by New for a name not in Policies().
	ErrUnknownPolicy = errors.New("scheduler: unknown policy")
	// ErrUnknownSession is returned for a session id never added or
	// already removed.
	ErrUnknownSession = errors.New("scheduler: unknown session")
	// ErrUnknownWorker is returned for a worker id never added or already
	// removed.
	ErrUnknownWorker = errors.New("scheduler: unknown worker")
	// ErrSessionExists is returned by AddSession for an id already added.
	ErrSessionExists = errors.New("scheduler: session exists")
	// ErrWorkerExists is returned by AddWorker for an id already added.
	ErrWorkerExists = errors.New("scheduler: worker exists")
	// ErrInvalid is returned for SessionParams out of range and a negative
	// pending count.
	ErrInvalid = errors.New("scheduler: invalid argument")
)

// MaxPriority is the highest session priority (docs/design.md, Sessions).
const MaxPriority = 10

const levels = MaxPriority + 1

// The policy names accepted by New; they are the scheduler config values.
const (
	PolicyPriority   = "priority"
	PolicyFairShare  = "fairshare"
	PolicyRoundRobin = "roundrobin"
	DefaultPolicy    = PolicyPriority
)

// policy decides the order in which wanting sessions get workers. The
// Scheduler keeps the state, the want heaps (wanting sessions by tier and
// priority) and the donor heaps; a policy reads them and may keep its own
// index. All methods run in O(levels + log sessions) and change nothing
// the Scheduler owns.
type policy interface {
	// update is called after anything that may move s in the policy's
	// order: s became wanting or stopped, changed tier, priority or
	// number of workers, or was removed (s.removed). s.wantTier is current.
	update(s *session)
	// next returns the wanting session that gets the next free worker, or
	// nil when no session wants one. The Scheduler grants it exactly one
	// worker (bound or reserved) and calls update before calling next
	// again. Sessions below min_workers (tier 0) come first.
	next() *session
	// victim returns the session that gives up one bound worker to the
	// wanting session s, or nil when none may. A victim is always a donor
	// (preemptible, above its min_workers) of priority below s's. Called
	// only with preemption on.
	victim(s *session) *session
}

var policies = map[string]func(*Scheduler) policy{
	PolicyPriority:   newStrictPriority,
	PolicyFairShare:  newFairShare,
	PolicyRoundRobin: newRoundRobin,
}

// Policies lists every name New accepts, sorted.
func Policies() []string {
	names := make([]string, 0, len(policies))
	for n := range policies {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Options configures a Scheduler.
type Options struct {
	// Preemption lets a session that wants workers take them from
	// preemptible sessions of lower priority (the preemption config key).
	Preemption bool
}

// SessionParams are the scheduling attributes of a session.
type SessionParams struct {
	// Priority is 0 to MaxPriority, higher first.
	Priority int
	// MinWorkers are reserved for the session while it has pending work.
	MinWorkers int
	// MaxWorkers is the hard limit on bound workers when HasMax is set
	// (max_workers is optional in the API; unset means unlimited).
	MaxWorkers int
	HasMax     bool
	// Preemptible lets sessions of higher priority take its workers when
	// preemption is on.
	Preemptible bool
}

func (p SessionParams) validate() error {
	switch {
	case p.Priority < 0 || p.Priority > MaxPriority:
		return fmt.Errorf("%w: priority %d not in [0, %d]", ErrInvalid, p.Priority, MaxPriority)
	case p.MinWorkers < 0:
		return fmt.Errorf("%w: min_workers %d is negative", ErrInvalid, p.MinWorkers)
	case p.HasMax && p.MaxWorkers < p.MinWorkers:
		return fmt.Errorf("%w: max_workers %d below min_workers %d", ErrInvalid, p.MaxWorkers, p.MinWorkers)
	}
	return nil
}

// Action is what a Decision tells the caller to send to a worker.
type Action uint8

const (
	// Bind: send BIND for Session to the idle Worker.
	Bind Action = iota + 1
	// Unbind: send UNBIND to Worker, bound to Session. The worker finishes
	// its in-flight batches (their results are delivered as usual), then
	// reports IDLE; call WorkerIdle then. Until that call the scheduler
	// counts the worker as busy and binds it to nothing.
	Unbind
)

func (a Action) String() string {
	switch a {
	case Bind:
		return "bind"
	case Unbind:
		return "unbind"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Reason says why a worker is unbound.
type Reason uint8

const (
	ReasonNone Reason = iota // a Bind
	// ReasonPreempted: taken for a session of higher priority.
	ReasonPreempted
	// ReasonIdle: the session was marked idle (SetIdle).
	ReasonIdle
	// ReasonClosed: the session was removed (RemoveSession).
	ReasonClosed
	// ReasonMaxWorkers: max_workers was lowered below the bound workers.
	ReasonMaxWorkers
	// ReasonDrained: the session had no work left and another session
	// wanted a worker while none was free.
	ReasonDrained
)

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonPreempted:
		return "preempted"
	case ReasonIdle:
		return "idle"
	case ReasonClosed:
		return "closed"
	case ReasonMaxWorkers:
		return "max_workers"
	case ReasonDrained:
		return "drained"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Decision is one instruction for the caller to apply, in order.
type Decision struct {
	Action  Action
	Worker  string
	Session string
	Reason  Reason
}

// Stats counts sessions and workers by scheduler state.
type Stats struct {
	Sessions int
	// Idle workers are unbound and free; Bound ones serve a session;
	// Unbinding ones were told Unbind and have not reported idle yet;
	// Draining ones drain on their own (WorkerDraining).
	Idle, Bound, Unbinding, Draining int
}

// Scheduler binds workers to sessions. The caller reports events through
// its methods; each returns the decisions the event caused, after which the
// rules in doc.go hold again (nothing is deferred to a later tick).
//
// The returned slice is owned by the Scheduler and valid until its next
// method call; copy it to keep it. A Scheduler is not safe for concurrent
// use: the caller serialises calls (the queue manager holds one lock).
type Scheduler struct {
	pol     policy
	preempt bool

	sessions map[string]*session
	workers  map[string]*worker
	seq      uint64
	counts   [numStates]int

	free    wlist      // idle workers
	transit wlist      // unbinding workers reserved for no session
	spent   []*session // sessions holding workers with no work (session.spent)

	want      [2][levels]heap // wanting sessions: tier 0 below min_workers, tier 1 the rest
	wantMask  [2]uint16       // bit p set when want[t][p] is not empty
	donors    [levels]heap    // preemptible sessions bound above min_workers
	donorMask uint16
	// unswept marks the want heaps whose top may be able to preempt since
	// the last sweep; the sweep looks at no others.
	unswept [2]uint16

	out []Decision
}

// New builds a Scheduler running the named policy (see Policies).
func New(name string, opts Options) (*Scheduler, error) {
	mk, ok := policies[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (have %v)", ErrUnknownPolicy, name, Policies())
	}
	sc := &Scheduler{
		preempt:  opts.Preemption,
		sessions: make(map[string]*session),
		workers:  make(map[string]*worker),
	}
	for t := range sc.want {
		for p := range sc.want[t] {
			sc.want[t][p] = heap{slot: slotWant, less: wantLess}
		}
	}
	for p := range sc.donors {
		sc.donors[p] = heap{slot: slotDonor, less: donorLess}
	}
	sc.pol = mk(sc)
	return sc, nil
}

// Stats returns the current counts.
func (sc *Scheduler) Stats() Stats {
	return Stats{
		Sessions:  len(sc.sessions),
		Idle:      sc.counts[stateFree],
		Bound:     sc.counts[stateBound],
		Unbinding: sc.counts[stateUnbinding],
		Draining:  sc.counts[stateDraining],
	}
}

// Bound returns the number of workers bound to the session (0 for an
// unknown one).
func (sc *Scheduler) Bound(id string) int {
	if s, ok := sc.sessions[id]; ok {
		return len(s.bound)
	}
	return 0
}

// AddSession adds a session with no pending work; nothing is decided until
// SetPending.
func (sc *Scheduler) AddSession(id string, p SessionParams) error {
	if err := p.validate(); err != nil {
		return err
	}
	if _, ok := sc.sessions[id]; ok {
		return fmt.Errorf("%w %q", ErrSessionExists, id)
	}
	sc.seq++
	s := &session{id: id, seq: sc.seq, wantTier: -1, donorPrio: -1, rrTier: -1, spentPos: -1}
	for i := range s.hidx {
		s.hidx[i] = -1
	}
	s.set(p)
	sc.sessions[id] = s
	return nil
}

// UpdateSession changes a session's parameters. Lowering max_workers below
// the bound workers unbinds the surplus (ReasonMaxWorkers).
func (sc *Scheduler) UpdateSession(id string, p SessionParams) ([]Decision, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	s, err := sc.session(id)
	if err != nil {
		return nil, err
	}
	sc.out = sc.out[:0]
	s.set(p)
	sc.trim(s)
	for len(s.bound) > s.max {
		sc.unbind(s.bound.last(), ReasonMaxWorkers)
	}
	sc.refresh(s)
	sc.settle()
	return sc.out, nil
}

// RemoveSession unbinds the session's workers (ReasonClosed) and forgets it.
func (sc *Scheduler) RemoveSession(id string) ([]Decision, error) {
	s, err := sc.session(id)
	if err != nil {
		return nil, err
	}
	sc.out = sc.out[:0]
	sc.evict(s, ReasonClosed)
	s.removed = true
	sc.refresh(s)
	delete(sc.sessions, id)
	sc.settle()
	return sc.out, nil
}

// Work is what a session has for workers, in tasks and workers, as the
// caller last measured it.
type Work struct {
	// Waiting counts tasks no worker has started: queued, or sent to a
	// worker that has not started them (its in-flight window).
	Waiting int
	// Busy counts the session's workers that are running its tasks.
	Busy int
}

// SetWork reports the session's work. The session wants its busy workers
// plus one per waiting task, at least min_workers and at most max_workers;
// with nothing waiting it gets no new worker but keeps those it has, and
// with no work at all it gives them up (ReasonDrained) while a session
// that wants workers has none and none is free.
func (sc *Scheduler) SetWork(id string, w Work) ([]Decision, error) {
	if w.Waiting < 0 || w.Busy < 0 {
		return nil, fmt.Errorf("%w: work %+v is negative", ErrInvalid, w)
	}
	s, err := sc.session(id)
	if err != nil {
		return nil, err
	}
	sc.out = sc.out[:0]
	s.work = w
	sc.trim(s)
	sc.refresh(s)
	sc.settle()
	return sc.out, nil
}

// SetIdle marks the session idle (no client activity for idle_timeout) or
// active again. An idle session has its workers unbound (ReasonIdle) and
// gets none until it is active.
func (sc *Scheduler) SetIdle(id string, idle bool) ([]Decision, error) {
	s, err := sc.session(id)
	if err != nil {
		return nil, err
	}
	sc.out = sc.out[:0]
	s.idle = idle
	if idle {
		sc.evict(s, ReasonIdle)
	}
	sc.refresh(s)
	sc.settle()
	return sc.out, nil
}

// AddWorker adds an idle, unbound worker.
func (sc *Scheduler) AddWorker(id string) ([]Decision, error) {
	if _, ok := sc.workers[id]; ok {
		return nil, fmt.Errorf("%w %q", ErrWorkerExists, id)
	}
	sc.out = sc.out[:0]
	w := &worker{id: id, state: stateFree}
	sc.workers[id] = w
	sc.counts[stateFree]++
	sc.free.add(w)
	sc.settle()
	return sc.out, nil
}

// RemoveWorker forgets a worker in any state (disconnected, timed out). Its
// session, if any, may get a replacement.
func (sc *Scheduler) RemoveWorker(id string) ([]Decision, error) {
	w, err := sc.worker(id)
	if err != nil {
		return nil, err
	}
	sc.out = sc.out[:0]
	s := sc.detach(w)
	sc.counts[w.state]--
	delete(sc.workers, id)
	if s != nil {
		sc.refresh(s)
	}
	sc.settle()
	return sc.out, nil
}

// WorkerIdle reports that the worker is idle and unbound: it finished an
// Unbind, finished draining, or left its session on its own. A worker
// unbound by preemption goes to the session it was taken for. Heartbeats
// that repeat a state are not events; do not report them.
func (sc *Scheduler) WorkerIdle(id string) ([]Decision, error) {
	w, err := sc.worker(id)
	if err != nil {
		return nil, err
	}
	sc.out = sc.out[:0]
	if w.state == stateFree {
		return sc.out, nil
	}
	reserved := w.state == stateUnbinding
	s := sc.detach(w)
	sc.setState(w, stateFree)
	sc.free.add(w)
	if s != nil {
		if reserved {
			// Reservations never exceed a session's target (trim), so s
			// still wants this worker.
			sc.bind(w, s)
		}
		sc.refresh(s)
	}
	sc.settle()
	return sc.out, nil
}

// WorkerDraining reports that a worker drains on its own (it is shutting
// down): it takes no new work, and its session may get a replacement. A
// worker that drains because it was told Unbind is already accounted for.
// WorkerIdle or RemoveWorker ends draining.
func (sc *Scheduler) WorkerDraining(id string) ([]Decision, error) {
	w, err := sc.worker(id)
	if err != nil {
		return nil, err
	}
	sc.out = sc.out[:0]
	if w.state == stateFree || w.state == stateBound {
		s := sc.detach(w)
		sc.setState(w, stateDraining)
		if s != nil {
			sc.refresh(s)
		}
		sc.settle()
	}
	return sc.out, nil
}

func (sc *Scheduler) session(id string) (*session, error) {
	s, ok := sc.sessions[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownSession, id)
	}
	return s, nil
}

func (sc *Scheduler) worker(id string) (*worker, error) {
	w, ok := sc.workers[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownWorker, id)
	}
	return w, nil
}

func (sc *Scheduler) setState(w *worker, st workerState) {
	sc.counts[w.state]--
	sc.counts[st]++
	w.state = st
}

// detach takes w out of the list that holds it and returns the session it
// was bound to or reserved for. Its state is left to the caller.
func (sc *Scheduler) detach(w *worker) *session {
	s := w.sess
	switch {
	case w.state == stateFree:
		sc.free.remove(w)
	case w.state == stateBound:
		s.bound.remove(w)
	case w.state == stateUnbinding && s != nil:
		s.incoming.remove(w)
	case w.state == stateUnbinding:
		sc.transit.remove(w)
	}
	w.sess = nil
	return s
}

// bind binds the free worker w to s.
func (sc *Scheduler) bind(w *worker, s *session) {
	sc.free.remove(w)
	sc.setState(w, stateBound)
	w.sess = s
	s.bound.add(w)
	sc.out = append(sc.out, Decision{Action: Bind, Worker: w.id, Session: s.id})
}

// unbind unbinds w from its session, reserved for nobody. The caller
// refreshes the session.
func (sc *Scheduler) unbind(w *worker, why Reason) {
	s := w.sess
	s.bound.remove(w)
	sc.setState(w, stateUnbinding)
	sc.out = append(sc.out, Decision{Action: Unbind, Worker: w.id, Session: s.id, Reason: why})
	w.sess = nil
	sc.transit.add(w)
}

// release gives up s's reservation of the unbinding worker w.
func (sc *Scheduler) release(s *session, w *worker) {
	s.incoming.remove(w)
	w.sess = nil
	sc.transit.add(w)
}

// grant gives s a free worker, or else reserves an unbinding one for it,
// and refreshes s.
func (sc *Scheduler) grant(s *session) {
	if len(sc.free) > 0 {
		sc.bind(sc.free.last(), s)
	} else {
		w := sc.transit.last()
		sc.transit.remove(w)
		w.sess = s
		s.incoming.add(w)
	}
	sc.refresh(s)
}

// trim gives up the reservations s can no longer use.
func (sc *Scheduler) trim(s *session) {
	for len(s.incoming) > 0 && s.have() > s.target() {
		sc.release(s, s.incoming.last())
	}
}

// evict unbinds all of s's workers and gives up its reservations.
func (sc *Scheduler) evict(s *session, why Reason) {
	for len(s.incoming) > 0 {
		sc.release(s, s.incoming.last())
	}
	for len(s.bound) > 0 {
		sc.unbind(s.bound.last(), why)
	}
}

// refresh files s in the want and donor heaps that match its state and
// tells the policy. Call it after every change to s.
func (sc *Scheduler) refresh(s *session) {
	h := s.have()
	grew, shrank := h > s.lastHave, h < s.lastHave
	s.lastHave = h
	tier := -1
	if !s.removed && h < s.target() {
		tier = 1
		if h < s.min {
			tier = 0
		}
	}
	// A wanting session may newly preempt when it starts wanting, changes
	// tier or priority, or loses workers; a donor may newly be preempted
	// by higher priorities when it appears, moves or gains workers.
	// Anything else only makes preemption harder.
	if sc.preempt && tier >= 0 && s.prio > 0 && (tier != s.wantTier || s.prio != s.wantPrio || shrank) {
		sc.unswept[tier] |= 1 << s.prio
	}
	donor := donorOf(s)
	if sc.preempt && donor >= 0 && (donor != s.donorPrio || grew) {
		above := (1<<levels - 1) &^ (uint16(1)<<(s.prio+1) - 1)
		sc.unswept[0] |= above
		sc.unswept[1] |= above
	}
	if tier != s.wantTier || (tier >= 0 && s.prio != s.wantPrio) {
		if t, p := s.wantTier, s.wantPrio; t >= 0 {
			sc.want[t][p].remove(s)
			if sc.want[t][p].len() == 0 {
				sc.wantMask[t] &^= 1 << p
			}
		}
		if tier >= 0 {
			sc.want[tier][s.prio].push(s)
			sc.wantMask[tier] |= 1 << s.prio
		}
		s.wantTier, s.wantPrio = tier, s.prio
	} else if tier >= 0 {
		sc.want[tier][s.prio].fix(s)
	}

	if donor != s.donorPrio {
		if p := s.donorPrio; p >= 0 {
			sc.donors[p].remove(s)
			if sc.donors[p].len() == 0 {
				sc.donorMask &^= 1 << p
			}
		}
		if donor >= 0 {
			sc.donors[donor].push(s)
			sc.donorMask |= 1 << donor
		}
		s.donorPrio = donor
	} else if donor >= 0 {
		sc.donors[donor].fix(s)
	}
	if spent := s.spent(); spent != (s.spentPos >= 0) {
		if spent {
			s.spentPos = len(sc.spent)
			sc.spent = append(sc.spent, s)
		} else {
			last := sc.spent[len(sc.spent)-1]
			sc.spent[s.spentPos], last.spentPos = last, s.spentPos
			sc.spent[len(sc.spent)-1] = nil
			sc.spent = sc.spent[:len(sc.spent)-1]
			s.spentPos = -1
		}
	}
	sc.pol.update(s)
}

// donorOf returns the priority of the donor heap s belongs in, or -1.
func donorOf(s *session) int {
	if s.removed || !s.preemptible || len(s.bound) <= s.min {
		return -1
	}
	return s.prio
}

// settle hands free workers, then unreserved unbinding ones, then those of
// spent sessions, to the sessions the policy picks, and with preemption on takes workers from
// donors until no wanting session may take one. Its cost is O(levels) per
// want heap marked unswept, plus O(levels + log sessions) per worker it
// grants or preempts.
func (sc *Scheduler) settle() {
	for {
		if len(sc.free) == 0 && len(sc.transit) == 0 {
			// No worker to give while a session has none: the spent
			// sessions give theirs up.
			if len(sc.spent) == 0 || !sc.Starving() {
				break
			}
			for len(sc.spent) > 0 {
				v := sc.spent[len(sc.spent)-1]
				for len(v.bound) > 0 {
					sc.unbind(v.bound.last(), ReasonDrained)
				}
				sc.refresh(v)
			}
		}
		s := sc.pol.next()
		if s == nil {
			break
		}
		sc.grant(s)
	}
	if sc.donorMask == 0 || sc.wantMask[0]|sc.wantMask[1] == 0 {
		// Only a new donor or a new wanting session can change that, and
		// refresh marks them.
		sc.unswept = [2]uint16{}
		return
	}
	// Every worker is now bound or reserved, so a preempted worker is the
	// only one to grant. For each tier and priority the top of the want
	// heap has the fewest workers, so it is the session most entitled to
	// preempt: when no victim fits it, none fits the rest of that heap.
	// Victims sit at lower priorities, visited later in the same pass, so
	// a victim that now wants can preempt in turn; a session that gained a
	// reserved worker and is itself a donor marks the priorities above it
	// for another pass. Workers only move up in priority, so passes end.
	for sc.unswept[0]|sc.unswept[1] != 0 {
		for t := range sc.want {
			for p := MaxPriority; p > 0; p-- {
				if sc.unswept[t]&(1<<p) == 0 {
					continue
				}
				sc.unswept[t] &^= 1 << p
				h := &sc.want[t][p]
				for h.len() > 0 {
					s := h.top()
					v := sc.pol.victim(s)
					if v == nil {
						break
					}
					// Refresh v before s changes: the roundrobin heap may
					// hold both, and a heap re-keys one session at a time.
					sc.unbind(v.bound.last(), ReasonPreempted)
					sc.refresh(v)
					sc.grant(s)
				}
			}
		}
	}
}

// Starving reports whether a session wants workers and has none; after
// every call no worker is free then (the rules). The want heaps put the
// session with the fewest workers on top, so the tops tell.
func (sc *Scheduler) Starving() bool {
	for t := range sc.want {
		for m := sc.wantMask[t]; m != 0; m &= m - 1 {
			if sc.want[t][bits.TrailingZeros16(m)].top().have() == 0 {
				return true
			}
		}
	}
	return false
}

// heaviestDonor returns the donor of priority below `below` that holds
// the most workers per weight, and its weight; ties go to the lower
// priority.
func (sc *Scheduler) heaviestDonor(below int, weight func(prio int) int) (*session, int) {
	var best *session
	bw := 0
	for m := sc.donorMask & (1<<below - 1); m != 0; m &= m - 1 {
		q := bits.TrailingZeros16(m)
		v, w := sc.donors[q].top(), weight(q)
		if best == nil || v.have()*bw > best.have()*w {
			best, bw = v, w
		}
	}
	return best, bw
}
