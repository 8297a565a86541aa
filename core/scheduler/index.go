package scheduler

// workerState is the scheduler's view of a worker; see doc.go for the
// transitions.
type workerState uint8

const (
	stateFree      workerState = iota // idle and unbound: in Scheduler.free
	stateBound                        // bound to sess: in sess.bound
	stateUnbinding                    // told Unbind, not yet idle: in sess.incoming if reserved for sess, else in Scheduler.transit
	stateDraining                     // draining on its own: in no list
	numStates
)

type worker struct {
	id    string
	state workerState
	// sess is the session the worker is bound to (stateBound) or reserved
	// for (stateUnbinding), else nil.
	sess *session
	pos  int // index in the one wlist that holds the worker
}

// wlist is an unordered set of workers with O(1) add and remove: each worker
// is in at most one list and remembers its index there.
type wlist []*worker

func (l *wlist) add(w *worker) {
	w.pos = len(*l)
	*l = append(*l, w)
}

func (l *wlist) remove(w *worker) {
	s := *l
	last := s[len(s)-1]
	s[w.pos] = last
	last.pos = w.pos
	s[len(s)-1] = nil
	*l = s[:len(s)-1]
}

func (l wlist) last() *worker { return l[len(l)-1] }

// Heap slots: a session sits in at most one heap per slot and keeps its
// index there in hidx[slot].
const (
	slotWant  = iota // Scheduler.want
	slotDonor        // Scheduler.donors
	slotRR           // roundRobin.ready
	numSlots
)

type session struct {
	id          string
	seq         uint64 // creation order: ties go to the older session
	prio        int
	min, max    int // max is maxInt when unlimited
	preemptible bool
	idle        bool
	removed     bool
	work        Work
	spentPos    int // index in Scheduler.spent, -1 when not spent

	bound    wlist // workers bound to this session
	incoming wlist // unbinding workers reserved for this session

	hidx      [numSlots]int
	wantTier  int // tier of the want heap holding the session, -1 if none
	wantPrio  int // priority of that heap
	donorPrio int // priority of the donor heap holding the session, -1 if none
	lastHave  int // have() at the last refresh

	rrTier   int    // tier of the roundrobin heap holding the session, -1 if none
	rrServed uint64 // roundrobin: when the session last got a worker
}

func (s *session) set(p SessionParams) {
	s.prio, s.min, s.preemptible = p.Priority, p.MinWorkers, p.Preemptible
	s.max = maxInt
	if p.HasMax {
		s.max = p.MaxWorkers
	}
}

// have counts the workers the session holds or has been promised.
func (s *session) have() int { return len(s.bound) + len(s.incoming) }

// target is how many workers the session can use now: its busy workers
// plus one per waiting task, at least min_workers, at most max_workers;
// none when idle or when no task waits (it keeps the workers it has).
func (s *session) target() int {
	if s.idle || s.work.Waiting == 0 {
		return 0
	}
	return min(s.max, max(s.min, s.work.Busy+s.work.Waiting))
}

// spent reports whether the session holds workers and has no work for
// them: nothing waiting, nothing running.
func (s *session) spent() bool {
	return !s.removed && !s.idle && s.work == Work{} && len(s.bound) > 0
}

const maxInt = int(^uint(0) >> 1)

// heap is a binary heap of sessions ordered by less, with removal and
// re-keying in O(log n) through session.hidx[slot].
type heap struct {
	s    []*session
	slot int
	less func(a, b *session) bool
}

func (h *heap) len() int      { return len(h.s) }
func (h *heap) top() *session { return h.s[0] }

func (h *heap) push(x *session) {
	x.hidx[h.slot] = len(h.s)
	h.s = append(h.s, x)
	h.up(len(h.s) - 1)
}

func (h *heap) remove(x *session) {
	i, n := x.hidx[h.slot], len(h.s)-1
	if i != n {
		h.swap(i, n)
	}
	h.s[n] = nil
	h.s = h.s[:n]
	x.hidx[h.slot] = -1
	if i != n {
		h.fixAt(i)
	}
}

// fix restores the order after x's key changed.
func (h *heap) fix(x *session) { h.fixAt(x.hidx[h.slot]) }

func (h *heap) fixAt(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *heap) swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.s[i].hidx[h.slot] = i
	h.s[j].hidx[h.slot] = j
}

func (h *heap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.s[i], h.s[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *heap) down(i int) bool {
	start := i
	for {
		c := 2*i + 1
		if c >= len(h.s) {
			break
		}
		if r := c + 1; r < len(h.s) && h.less(h.s[r], h.s[c]) {
			c = r
		}
		if !h.less(h.s[c], h.s[i]) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}

// wantLess orders a want heap: fewest workers first, then the older session.
func wantLess(a, b *session) bool {
	if ah, bh := a.have(), b.have(); ah != bh {
		return ah < bh
	}
	return a.seq < b.seq
}

// donorLess orders a donor heap: most workers first, then the newer session.
func donorLess(a, b *session) bool {
	if ah, bh := a.have(), b.have(); ah != bh {
		return ah > bh
	}
	return a.seq > b.seq
}
