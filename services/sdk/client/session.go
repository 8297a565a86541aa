package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// Task is one task of a caller-made batch.
type Task struct {
	ID      string
	Payload []byte
}

// Result is a task's result.
type Result struct {
	ID      string
	Payload []byte
	// Attempts is the number of deliveries to workers the task took.
	Attempts uint32
}

// DeadLetter is a task that failed: its worker reported Error, or it ran
// out of attempts ("attempts exhausted").
type DeadLetter struct {
	ID string
	// Payload is the task's payload when this Session submitted it, so
	// that it can be submitted again.
	Payload  []byte
	Error    string
	Attempts uint32
}

// readyLimit is how many caller-made batches may wait for the sender before
// SubmitBatch blocks: enough to keep the sender busy, few enough that a
// caller cannot queue unbounded memory.
const readyLimit = 2

// maxRounds bounds how often a session that ended with tasks unanswered
// submits them again: results lost with a broken connection come back in
// one round, so more rounds mean they go elsewhere (another stream of the
// same session).
const maxRounds = 5

// pendingTask is a task kept until its answer arrives, to be submitted
// again if the queue manager may have lost it.
type pendingTask struct {
	payload []byte
	level   *uint32 // the shared-data level it was submitted under
}

// Reconnect backoff bounds.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Session is an open session: tasks in, results out. Its methods are safe
// for concurrent use.
type Session struct {
	c       *Client
	id      string
	opts    SessionOptions
	results chan Result // nil with OnResult

	// wake tells the sender there is work (capacity 1: a pending signal
	// is enough).
	wake     chan struct{}
	attached bool // made by Attach: results of tasks it did not submit are delivered too
	cancel   context.CancelFunc
	finished chan struct{}
	err      error // the stream's end; read after finished is closed
	// answers counts result batches received, for readDead.
	answers atomic.Int64
	// fetching serialises the reads of dead letters (fetchDeadLocked).
	fetching sync.Mutex

	mu struct {
		sync.Mutex
		attrs Attributes
		// acc is the open batch Submit appends to; spare is the slice of
		// the last sent batch, handed back for the next swap.
		acc, spare []*pb.Message
		// free holds reset messages for reuse: gRPC has encoded a batch
		// once Send returns, so its messages can carry the next tasks.
		free []*pb.Message
		// ready holds caller-made batches from SubmitBatch.
		ready []*pb.Batch
		// space is closed (and cleared) when the sender takes work, to
		// wake callers blocked on a full batch.
		space chan struct{}
		// pending holds the tasks submitted and not yet answered (result
		// or dead letter read), so they can be submitted again after a
		// reconnect lost them.
		pending map[string]pendingTask
		// dead holds dead letters read by the session itself (to tell
		// them from lost tasks) until DeadLetters returns them.
		dead        []DeadLetter
		resubmitted int64 // tasks submitted again after a reconnect
		recreated   int   // times the session was created anew
		done        bool  // CloseSend or Close was called
		failed      error // the stream ended
		// sharedLevel is the shared-data level of new batches; nil: none.
		sharedLevel *uint32
	}
}

func (c *Client) start(id string, attrs Attributes, o SessionOptions, attached bool) *Session {
	o.fillDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{c: c, id: id, opts: o, wake: make(chan struct{}, 1), attached: attached, cancel: cancel, finished: make(chan struct{})}
	if o.OnResult == nil {
		s.results = make(chan Result, o.ResultBuffer)
	}
	s.mu.attrs = attrs
	s.mu.sharedLevel = o.SharedDataLevel
	s.mu.pending = make(map[string]pendingTask)
	s.mu.acc = make([]*pb.Message, 0, o.MaxBatchSize)
	go s.run(ctx)
	go s.readDead(ctx)
	return s
}

// Dead-letter polling bounds: readDead looks after a second without an
// answer, and backs off to a minute while it finds none.
const (
	minDeadPoll = time.Second
	maxDeadPoll = time.Minute
)

// readDead reads the session's dead letters while it runs, whenever tasks
// are unanswered and no answer came for a while, and keeps them for
// DeadLetters. The queue manager gives a session no workers while its dead
// letters pile up unread, so a session with many failing tasks would
// otherwise wait for ever.
func (s *Session) readDead(ctx context.Context) {
	poll := minDeadPoll
	t := time.NewTimer(poll)
	defer t.Stop()
	seen := s.answers.Load()
	for {
		select {
		case <-t.C:
		case <-s.finished:
			return
		}
		if got := s.answers.Load(); got != seen || s.Pending() == 0 {
			seen, poll = got, minDeadPoll
		} else if n, err := s.keepDead(ctx); err == nil && n > 0 {
			poll = minDeadPoll
		} else {
			poll = min(2*poll, maxDeadPoll)
		}
		t.Reset(poll)
	}
}

// ID is the session's id.
func (s *Session) ID() string { return s.id }

// Attributes are the session's attributes as last created or updated by
// this Session.
func (s *Session) Attributes() Attributes {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.attrs.clone()
}

// Update changes the session's attributes: fn edits a copy of the current
// ones, which is then sent whole. Changes take effect at the queue
// manager's next scheduling decision. MinWorkers and MaxWorkers cannot be
// unset once set.
func (s *Session) Update(ctx context.Context, fn func(*Attributes)) error {
	a := s.Attributes()
	fn(&a)
	if _, err := s.c.api.UpdateSession(s.withClientID(ctx), &pb.Session{Id: s.id, Attributes: a.proto()}); err != nil {
		return mapErr(err)
	}
	s.mu.Lock()
	s.mu.attrs = a
	s.mu.Unlock()
	return nil
}

// SetSharedDataLevel sets the shared-data level that batches built from
// now on require (nil: none), typically after SharedData.Update published
// a new level. Tasks submitted before the call but not yet sent go with
// the new level too; to keep them on the old one, wait for their results
// first.
func (s *Session) SetSharedDataLevel(level *uint32) {
	if level != nil {
		v := *level
		level = &v
	}
	s.mu.Lock()
	if len(s.mu.acc) > 0 {
		// The open batch keeps the level its tasks were submitted under.
		s.mu.ready = append(s.mu.ready, s.newBatch(s.mu.acc, s.mu.sharedLevel))
		s.mu.acc, s.mu.spare = s.mu.spare[:0], nil
		s.tookLocked()
	}
	s.mu.sharedLevel = level
	s.mu.Unlock()
	s.signal()
}

// Submit adds a task to the open batch (see the package doc for when it is
// sent). id must be unique in the session; payload belongs to the SDK from
// now on. Submit blocks while the open batch is full.
func (s *Session) Submit(ctx context.Context, id string, payload []byte) error {
	if id == "" {
		return fmt.Errorf("%w: empty task id", ErrInvalidArgument)
	}
	s.mu.Lock()
	for {
		if err := s.closedLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
		if len(s.mu.acc) < s.opts.MaxBatchSize {
			break
		}
		if err := s.waitSpaceLocked(ctx); err != nil {
			return err
		}
	}
	if _, dup := s.mu.pending[id]; dup {
		s.mu.Unlock()
		return fmt.Errorf("%w: task id %q is already pending", ErrInvalidArgument, id)
	}
	s.mu.pending[id] = pendingTask{payload: payload, level: s.mu.sharedLevel}
	m := s.messageLocked()
	m.Id, m.Payload = id, payload
	s.mu.acc = append(s.mu.acc, m)
	n := len(s.mu.acc)
	s.mu.Unlock()
	if n == 1 || n == s.opts.MaxBatchSize {
		s.signal()
	}
	return nil
}

// SubmitBatch sends tasks as one batch, unchanged by the SDK's batching.
// Ids must be unique in the session; the payloads belong to the SDK from now
// on.
func (s *Session) SubmitBatch(ctx context.Context, tasks []Task) error {
	if len(tasks) == 0 {
		return fmt.Errorf("%w: empty batch", ErrInvalidArgument)
	}
	s.mu.Lock()
	for {
		if err := s.closedLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
		if len(s.mu.ready) < readyLimit {
			break
		}
		if err := s.waitSpaceLocked(ctx); err != nil {
			return err
		}
	}
	seen := make(map[string]struct{}, len(tasks))
	for _, t := range tasks {
		_, dupBatch := seen[t.ID]
		_, dupSession := s.mu.pending[t.ID]
		if t.ID == "" || dupBatch || dupSession {
			s.mu.Unlock()
			return fmt.Errorf("%w: task id %q is empty or not unique", ErrInvalidArgument, t.ID)
		}
		seen[t.ID] = struct{}{}
	}
	msgs := make([]*pb.Message, len(tasks))
	for i, t := range tasks {
		s.mu.pending[t.ID] = pendingTask{payload: t.Payload, level: s.mu.sharedLevel}
		msgs[i] = s.messageLocked()
		msgs[i].Id, msgs[i].Payload = t.ID, t.Payload
	}
	s.mu.ready = append(s.mu.ready, s.newBatch(msgs, s.mu.sharedLevel))
	s.mu.Unlock()
	s.signal()
	return nil
}

// CloseSend says no more tasks will be submitted. The open batch is sent,
// the stream half-closes, and it ends once every task of the session has a
// result or a dead letter; then Results is closed and Wait returns.
func (s *Session) CloseSend() {
	s.mu.Lock()
	s.mu.done = true
	s.mu.Unlock()
	s.signal()
}

// Results delivers the results as they arrive, and is closed when the
// stream ends. It is nil when SessionOptions.OnResult is set.
func (s *Session) Results() <-chan Result { return s.results }

// Wait blocks until the stream ends (after CloseSend, once every result has
// been delivered) and returns why it ended: nil, ErrClosed after Close or
// Client.Close, or
// the error that ended it (ErrNotFound for a session that was closed or is
// unknown, ErrUnavailable when reconnecting timed out).
func (s *Session) Wait(ctx context.Context) error {
	select {
	case <-s.finished:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pending is the number of tasks submitted whose result or dead letter has
// not been read yet.
func (s *Session) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.pending)
}

// DeadLetters reads and removes the session's dead letters queued now,
// with those the session read by itself while it ran (a session whose
// tasks wait unanswered for a second reads them, so that the queue manager
// keeps giving it workers).
func (s *Session) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	s.fetching.Lock() // a read by readDead in progress lands first
	defer s.fetching.Unlock()
	s.mu.Lock()
	out := s.mu.dead
	s.mu.dead = nil
	s.mu.Unlock()
	more, err := s.fetchDeadLocked(ctx)
	return append(out, more...), err
}

// keepDead reads the dead letters and keeps them for DeadLetters.
func (s *Session) keepDead(ctx context.Context) (int, error) {
	s.fetching.Lock()
	defer s.fetching.Unlock()
	dead, err := s.fetchDeadLocked(ctx)
	s.mu.Lock()
	s.mu.dead = append(s.mu.dead, dead...)
	s.mu.Unlock()
	return len(dead), err
}

// fetchDeadLocked streams the dead letters from the queue manager and
// settles their pending tasks. s.fetching is held: the queue manager hands
// each dead letter out once, so reads must not overlap a DeadLetters call.
func (s *Session) fetchDeadLocked(ctx context.Context) ([]DeadLetter, error) {
	stream, err := s.c.api.ClientStreamDeadLetters(s.withClientID(ctx), &pb.Session{Id: s.id})
	if err != nil {
		return nil, mapErr(err)
	}
	var out []DeadLetter
	for {
		b, err := stream.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, mapErr(err)
		}
		s.mu.Lock()
		for _, m := range b.Messages {
			d := DeadLetter{ID: m.Id, Payload: m.Payload, Error: m.Error, Attempts: m.Attempts}
			if p, ok := s.mu.pending[m.Id]; ok {
				d.Payload = p.payload // workers answer a failure without the payload
				delete(s.mu.pending, m.Id)
			}
			out = append(out, d)
		}
		s.mu.Unlock()
	}
}

// Resubmitted is the number of tasks this Session submitted again because a
// broken stream or a restarted queue manager may have lost them. The queue
// manager drops those it still holds, so this counts deliveries offered,
// not tasks run twice.
func (s *Session) Resubmitted() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.resubmitted
}

// Recreated is the number of times the session was created anew on a
// queue manager that had lost it (restarted).
func (s *Session) Recreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.recreated
}

// Close stops the stream and closes the session on the queue manager, which
// unbinds its workers and discards its queued tasks, unread results and
// dead letters.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	s.mu.done = true
	s.mu.Unlock()
	s.cancel()
	<-s.finished
	_, err := s.c.api.CloseSession(s.withClientID(ctx), &pb.Session{Id: s.id})
	return mapErr(err)
}

// closedLocked returns why nothing more may be submitted, or nil.
func (s *Session) closedLocked() error {
	if s.mu.failed != nil {
		return s.mu.failed
	}
	if s.mu.done {
		return ErrClosed
	}
	return nil
}

// waitSpaceLocked releases the lock until the sender takes work, ctx ends or
// the stream ends; it returns with the lock held only on success.
func (s *Session) waitSpaceLocked(ctx context.Context) error {
	if s.mu.space == nil {
		s.mu.space = make(chan struct{})
	}
	space := s.mu.space
	s.mu.Unlock()
	select {
	case <-space:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.finished:
		return s.err
	}
	s.mu.Lock()
	return nil
}

func (s *Session) messageLocked() *pb.Message {
	if n := len(s.mu.free); n > 0 {
		m := s.mu.free[n-1]
		s.mu.free = s.mu.free[:n-1]
		return m
	}
	return new(pb.Message)
}

// newBatch builds a batch of tasks submitted under shared-data level
// (nil: none).
func (s *Session) newBatch(msgs []*pb.Message, level *uint32) *pb.Batch {
	b := &pb.Batch{SessionId: s.id, Priority: s.opts.BatchPriority, Messages: msgs}
	if level != nil {
		use := true
		b.UseSharedData = &use
		b.RequiredSharedDataUpdateLevel = level
	}
	return b
}

func (s *Session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next blocks until there is a batch to send and returns it, or returns nil
// when the stream should half-close (eof) or ctx ended.
func (s *Session) next(ctx context.Context) (b *pb.Batch, eof bool) {
	var linger <-chan time.Time
	lingered := false
	for {
		s.mu.Lock()
		if len(s.mu.ready) > 0 {
			b = s.mu.ready[0]
			s.mu.ready = s.mu.ready[1:]
			s.tookLocked()
			s.mu.Unlock()
			return b, false
		}
		n := len(s.mu.acc)
		full := n >= s.opts.MaxBatchSize || s.mu.done || lingered || s.opts.MaxWait <= 0
		if n > 0 && full {
			b = s.newBatch(s.mu.acc, s.mu.sharedLevel)
			s.mu.acc, s.mu.spare = s.mu.spare[:0], nil
			s.tookLocked()
			s.mu.Unlock()
			return b, false
		}
		eof = n == 0 && s.mu.done
		s.mu.Unlock()
		if eof {
			return nil, true
		}
		if n > 0 && linger == nil {
			t := time.NewTimer(s.opts.MaxWait)
			defer t.Stop()
			linger = t.C
		}
		select {
		case <-s.wake:
		case <-linger:
			lingered = true
		case <-ctx.Done():
			return nil, false
		}
	}
}

func (s *Session) tookLocked() {
	if s.mu.space != nil {
		close(s.mu.space)
		s.mu.space = nil
	}
}

// recycle returns a sent batch's messages to the free list, keeping at most
// a few batches' worth so a burst of large batches is not held forever.
func (s *Session) recycle(b *pb.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range b.Messages {
		if len(s.mu.free) >= 4*s.opts.MaxBatchSize {
			break
		}
		m.Id, m.Payload = "", nil
		s.mu.free = append(s.mu.free, m)
	}
	if s.mu.spare == nil && cap(b.Messages) >= s.opts.MaxBatchSize {
		s.mu.spare = b.Messages[:0]
	}
}

// run keeps the session's stream open until it ends for good.
func (s *Session) run(ctx context.Context) {
	err := s.loop(ctx)
	s.mu.Lock()
	s.mu.failed = err
	if err == nil {
		s.mu.failed = ErrClosed
	}
	s.mu.Unlock()
	s.err = err
	if s.results != nil {
		close(s.results)
	}
	close(s.finished)
}

// loop opens the stream, and reopens it with backoff while it breaks for
// reasons worth retrying. After a break it submits again the tasks that
// were sent and not answered: the queue manager drops those it still holds
// and runs the ones it lost. A session the queue manager no longer knows
// after a break (it restarted) is created anew under the same id.
func (s *Session) loop(ctx context.Context) error {
	var carry *pb.Batch // a batch whose send failed, for the next stream
	var down time.Time  // when the stream was last found broken; zero while healthy
	backoff := minBackoff
	broken := false // the last stream broke: a NOT_FOUND now means the session was lost
	rounds := 0
	for {
		opened := time.Now()
		healthy, err := s.stream(ctx, &carry)
		if err == nil {
			// The queue manager answered all it holds. What is still
			// pending is a dead letter not yet read, or a result lost in
			// transit: the latter runs again.
			if rounds++; rounds > maxRounds {
				return fmt.Errorf("%w: %d tasks still without an answer after %d rounds", ErrUnavailable, s.Pending(), maxRounds)
			}
			if n, err := s.settleLost(ctx); err != nil || n == 0 {
				return err
			}
			continue
		}
		if ctx.Err() != nil || s.c.conn.GetState() == connectivity.Shutdown {
			return ErrClosed
		}
		if healthy || time.Since(opened) > maxBackoff {
			down, backoff = time.Time{}, minBackoff
		}
		if down.IsZero() {
			down = time.Now()
		}
		if status.Code(err) == codes.NotFound && broken && !healthy && s.opts.AppID != "" {
			err = s.recreate(ctx)
		}
		if err != nil && (!retryable(err) || s.opts.ReconnectTimeout < 0 || time.Since(down) > s.opts.ReconnectTimeout) {
			return mapErr(err)
		}
		broken = true
		s.resubmit(carry)
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ErrClosed
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// recreate creates the session again, under its id and attributes, on a
// queue manager that lost it; nil means the stream can be reopened.
func (s *Session) recreate(ctx context.Context) error {
	attrs := s.Attributes()
	_, err := s.c.api.CreateSession(s.withClientID(ctx), &pb.Session{Id: s.id, App: &pb.App{Id: s.opts.AppID}, Attributes: attrs.proto()})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return err
	}
	s.mu.Lock()
	s.mu.recreated++
	s.mu.Unlock()
	return nil
}

// settleLost runs after a clean end of the stream with tasks pending: it
// reads the dead letters (kept for DeadLetters) and submits the rest
// again, returning how many.
func (s *Session) settleLost(ctx context.Context) (int, error) {
	if s.Pending() == 0 {
		return 0, nil
	}
	if _, err := s.keepDead(ctx); err != nil {
		return 0, err
	}
	return s.resubmit(nil), nil
}

// resubmit queues again, ahead of new work, every pending task that is not
// waiting to be sent (in the open batch, a ready batch or carry).
func (s *Session) resubmit(carry *pb.Batch) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	local := make(map[string]struct{}, len(s.mu.acc))
	for _, m := range s.mu.acc {
		local[m.Id] = struct{}{}
	}
	for _, b := range s.mu.ready {
		for _, m := range b.Messages {
			local[m.Id] = struct{}{}
		}
	}
	if carry != nil {
		for _, m := range carry.Messages {
			local[m.Id] = struct{}{}
		}
	}
	// Batches by shared-data level, so each task keeps its own.
	type levelKey struct {
		set   bool
		level uint32
	}
	var again []*pb.Batch
	open := map[levelKey]*pb.Batch{}
	n := 0
	for id, p := range s.mu.pending {
		if _, ok := local[id]; ok {
			continue
		}
		var k levelKey
		if p.level != nil {
			k = levelKey{true, *p.level}
		}
		b := open[k]
		if b == nil || len(b.Messages) >= s.opts.MaxBatchSize {
			b = s.newBatch(make([]*pb.Message, 0, min(s.opts.MaxBatchSize, len(s.mu.pending))), p.level)
			again = append(again, b)
			open[k] = b
		}
		b.Messages = append(b.Messages, &pb.Message{Id: id, Payload: p.payload})
		n++
	}
	if n > 0 {
		s.mu.ready = append(again, s.mu.ready...)
		s.mu.resubmitted += int64(n)
	}
	return n
}

// withClientID adds metadata "clientid": a queue manager running with
// requireClientID serves a session only to its client.
func (s *Session) withClientID(ctx context.Context) context.Context {
	if id := s.Attributes().ClientID; id != "" {
		return metadata.AppendToOutgoingContext(ctx, "clientid", id)
	}
	return ctx
}

// stream runs one ClientStream: a sender goroutine sends batches while this
// goroutine receives results. It returns nil when the stream ended cleanly
// after CloseSend; healthy reports whether any result arrived.
func (s *Session) stream(ctx context.Context, carry **pb.Batch) (healthy bool, err error) {
	sctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(s.withClientID(ctx), "sessionid", s.id))
	defer cancel()
	stream, err := s.c.api.ClientStream(sctx)
	if err != nil {
		return false, err
	}
	sent := make(chan *pb.Batch, 1)
	go func() { sent <- s.send(sctx, stream, *carry) }()
	healthy, err = s.receive(sctx, stream)
	cancel()
	*carry = <-sent
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return healthy, err
}

// send sends carry, then batches until the session half-closes or the
// stream fails; it returns the batch whose send failed.
func (s *Session) send(ctx context.Context, stream grpc.BidiStreamingClient[pb.Batch, pb.Batch], carry *pb.Batch) *pb.Batch {
	if carry != nil {
		if stream.Send(carry) != nil {
			return carry
		}
		s.recycle(carry)
	}
	for {
		b, eof := s.next(ctx)
		if b == nil {
			if eof {
				_ = stream.CloseSend()
			}
			return nil
		}
		if stream.Send(b) != nil {
			return b
		}
		s.recycle(b)
	}
}

// receive delivers results until the stream ends; nil means it ended with
// OK.
func (s *Session) receive(ctx context.Context, stream grpc.BidiStreamingClient[pb.Batch, pb.Batch]) (healthy bool, err error) {
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return healthy, nil
		}
		if err != nil {
			return healthy, err
		}
		healthy = true
		s.answers.Add(1)
		// A task answered twice (it ran again after a reconnect while its
		// first result was on the way) is delivered once.
		s.mu.Lock()
		msgs := b.Messages[:0]
		for _, m := range b.Messages {
			if _, ok := s.mu.pending[m.Id]; ok || s.attached {
				delete(s.mu.pending, m.Id)
				msgs = append(msgs, m)
			}
		}
		s.mu.Unlock()
		for _, m := range msgs {
			r := Result{ID: m.Id, Payload: m.Payload, Attempts: m.Attempts}
			if s.results == nil {
				s.opts.OnResult(r)
				continue
			}
			select {
			case s.results <- r:
			case <-ctx.Done():
				return healthy, ctx.Err()
			}
		}
	}
}
