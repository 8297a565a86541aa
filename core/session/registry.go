package session

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/alpcrun/alpcrun/core/queue"
)

// DefaultExpiry is how long an untouched session lives (sessionExpiry).
const DefaultExpiry = 24 * time.Hour

// Config configures a Registry.
type Config struct {
	QueueKind  queue.Kind
	BufferSize int
	// Expiry closes sessions with no client activity for this long.
	Expiry time.Duration
	// Notify is called (without locks held) when a session's demand for
	// workers may have changed: tasks arrived on an empty queue, tasks were
	// requeued, the session became active again. The scheduler listens.
	Notify func(*Session)
	// Drained is called (without locks held) when every accepted task of a
	// session has its outcome; the scheduler may then give its workers to
	// a waiting session at once instead of at the next tick.
	Drained func(*Session)
	// Exhausted is called for each task dead-lettered because it used up
	// its attempts (for the service's outcome counter).
	Exhausted func(*Batch)
	// Split cuts a batch payload of more than n tasks into its first n
	// tasks and the rest, as two new payloads (dispatch.go). Nil: batches
	// are never split.
	Split func(payload any, n int) (head, tail any)
	// SessionBytes and TotalBytes bound the bytes of queued batches
	// (Batch.Bytes) per session and in all sessions (0: unbounded):
	// Enqueue waits for room (budget.go).
	SessionBytes, TotalBytes int64
}

// Registry holds the open sessions.
type Registry struct {
	cfg    Config
	budget *budget
	mu     struct {
		sync.RWMutex
		sessions map[string]*Session
	}
}

// NewRegistry returns an empty registry.
func NewRegistry(cfg Config) (*Registry, error) {
	if cfg.Expiry == 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.Notify == nil {
		cfg.Notify = func(*Session) {}
	}
	if cfg.Drained == nil {
		cfg.Drained = func(*Session) {}
	}
	if cfg.Exhausted == nil {
		cfg.Exhausted = func(*Batch) {}
	}
	if _, err := queue.New(cfg.QueueKind, queue.Options{Capacity: 1}); err != nil {
		return nil, err
	}
	r := &Registry{cfg: cfg, budget: &budget{session: cfg.SessionBytes, total: cfg.TotalBytes}}
	r.mu.sessions = make(map[string]*Session)
	return r, nil
}

// NewID returns a fresh ULID.
func NewID() string { return ulid.MustNew(ulid.Now(), rand.Reader).String() }

// Create opens a session. An empty id or client id gets a ULID; defaults
// are filled into attrs; the stored attributes are returned in the session.
func (r *Registry) Create(id, appID string, attrs Attributes, now time.Time) (*Session, error) {
	if appID == "" {
		return nil, fmt.Errorf("%w: app.id is required", ErrInvalid)
	}
	if err := attrs.Validate(); err != nil {
		return nil, err
	}
	attrs.fillDefaults()
	if id == "" {
		id = NewID()
	}
	if attrs.ClientID == "" {
		attrs.ClientID = NewID()
	}
	opts := queue.Options{Capacity: r.cfg.BufferSize}
	deadKind := r.cfg.QueueKind
	if deadKind == queue.Speed {
		deadKind = queue.Mutex // a hand-off cannot hold dead letters until they are read
	}
	tasks, _ := queue.New(r.cfg.QueueKind, opts)
	results, _ := queue.New(r.cfg.QueueKind, opts)
	dead, _ := queue.New(deadKind, opts)
	s := &Session{ID: id, AppID: appID, tasks: tasks, results: results, dead: dead, notify: r.cfg.Notify, drained: r.cfg.Drained, exhausted: r.cfg.Exhausted, split: r.cfg.Split, budget: r.budget}
	s.mu.attrs = attrs
	s.mu.leases = make(map[*Lease]struct{})
	s.stats.created = now
	s.lastActivity.Store(now.UnixNano())

	r.mu.Lock()
	if _, ok := r.mu.sessions[id]; ok {
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrExists, id)
	}
	r.mu.sessions[id] = s
	r.mu.Unlock()
	r.cfg.Notify(s)
	return s, nil
}

// Get returns an open session.
func (r *Registry) Get(id string) (*Session, error) {
	r.mu.RLock()
	s, ok := r.mu.sessions[id]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return s, nil
}

// Len is the number of open sessions.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.mu.sessions)
}

// All returns the open sessions.
func (r *Registry) All() []*Session {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Session, 0, len(r.mu.sessions))
	for _, s := range r.mu.sessions {
		out = append(out, s)
	}
	return out
}

// Update changes a session's attributes with fn, which edits a copy; the
// result must validate. Changes take effect at the next scheduling decision.
func (r *Registry) Update(id string, fn func(*Attributes)) (Attributes, error) {
	s, err := r.Get(id)
	if err != nil {
		return Attributes{}, err
	}
	s.mu.Lock()
	a := s.mu.attrs
	fn(&a)
	if err := a.Validate(); err != nil {
		s.mu.Unlock()
		return Attributes{}, err
	}
	a.fillDefaults()
	s.mu.attrs = a
	s.mu.Unlock()
	r.cfg.Notify(s)
	return a, nil
}

// Discarded counts what CloseSession threw away.
type Discarded struct{ Tasks, Results, DeadLetters int }

func (d Discarded) String() string {
	return fmt.Sprintf("discarded %d queued tasks, %d unread results, %d dead letters", d.Tasks, d.Results, d.DeadLetters)
}

// Close removes a session, discarding its queues and in-flight batches.
func (r *Registry) Close(id string) (Discarded, error) {
	r.mu.Lock()
	s, ok := r.mu.sessions[id]
	delete(r.mu.sessions, id)
	r.mu.Unlock()
	if !ok {
		return Discarded{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	t, res, d := s.shutdown()
	r.cfg.Notify(s)
	return Discarded{Tasks: t, Results: res, DeadLetters: d}, nil
}

// SweepResult says what a Sweep did.
type SweepResult struct {
	Idled       []*Session // newly idle: their workers should be unbound
	Expired     []string   // closed for sessionExpiry
	Redelivered int        // batches requeued for task_timeout
}

// Sweep applies the time rules at now: task timeouts, idle sessions and
// session expiry. The queue manager calls it on every scheduler tick.
func (r *Registry) Sweep(now time.Time) SweepResult {
	var res SweepResult
	for _, s := range r.All() {
		last := time.Unix(0, s.lastActivity.Load())
		s.mu.Lock()
		attrs := s.mu.attrs
		attached := s.mu.clients > 0
		leases := make([]*Lease, 0, len(s.mu.leases))
		for l := range s.mu.leases {
			leases = append(leases, l)
		}
		becameIdle := !attached && !s.idle.Load() && now.Sub(last) >= attrs.IdleTimeout
		if becameIdle {
			s.idle.Store(true)
		}
		s.mu.Unlock()
		if !attached && now.Sub(last) >= r.cfg.Expiry {
			if _, err := r.Close(s.ID); err == nil {
				res.Expired = append(res.Expired, s.ID)
			}
			continue
		}
		if attrs.TaskTimeout > 0 {
			for _, l := range leases {
				res.Redelivered += l.expire(now.Add(-attrs.TaskTimeout))
			}
		}
		if becameIdle {
			res.Idled = append(res.Idled, s)
		}
	}
	return res
}
