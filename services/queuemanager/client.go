package queuemanager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/alpcrun/alpcrun/core/queue"
	"github.com/alpcrun/alpcrun/core/session"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// mdValue returns the first value of metadata key k.
func mdValue(ctx context.Context, k string) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}

// batchChecker validates client batches; its set is reused across the
// batches of one stream so that validation does not allocate.
type batchChecker struct {
	maxBytes, maxMessages int
	seen                  map[string]struct{}
}

// check validates b and returns its encoded size.
func (c *batchChecker) check(b *pb.Batch) (int, error) {
	if len(b.Messages) == 0 {
		return 0, fmt.Errorf("%w: no messages", errInvalidBatch)
	}
	if n := len(b.Messages); c.maxMessages > 0 && n > c.maxMessages {
		return 0, fmt.Errorf("%w: %d messages, maxBatchMessages is %d", errTooManyMessages, n, c.maxMessages)
	}
	size := batchSize(b)
	if c.maxBytes > 0 && size > c.maxBytes {
		return 0, fmt.Errorf("%w: %d bytes, over maxBatchBytes %d", errInvalidBatch, size, c.maxBytes)
	}
	if c.seen == nil {
		c.seen = make(map[string]struct{}, len(b.Messages))
	}
	clear(c.seen)
	for i, m := range b.Messages {
		if m == nil || m.Id == "" {
			return 0, fmt.Errorf("%w: message %d has an empty id", errInvalidBatch, i)
		}
		// One probe per id: a repeated id leaves the length as it was.
		l := len(c.seen)
		c.seen[m.Id] = struct{}{}
		if len(c.seen) == l {
			return 0, fmt.Errorf("%w: duplicate message id %q", errInvalidBatch, m.Id)
		}
	}
	return size, nil
}

// batchSize is proto.Size(b) without its reflection over every message:
// a quarter of the check's time per task at batch 100 (results/profile-
// 2026-12-07.md). TestBatchSize holds it to proto.Size with every field
// of the schema set, so a field added to Batch or Message fails it until
// it is counted here.
func batchSize(b *pb.Batch) int {
	n := bytesField(len(b.Id)) + bytesField(len(b.SessionId)) + varintField(b.Priority)
	if b.UseSharedData != nil {
		n += 2
	}
	if b.RequiredSharedDataUpdateLevel != nil {
		n += 1 + protowire.SizeVarint(uint64(*b.RequiredSharedDataUpdateLevel))
	}
	if b.Revoke != 0 {
		n += 1 + protowire.SizeVarint(uint64(b.Revoke))
	}
	n += len(b.ProtoReflect().GetUnknown())
	for _, m := range b.Messages {
		if m == nil { // encoded as an empty message
			n += 2
			continue
		}
		k := bytesField(len(m.Id)) + bytesField(len(m.Payload)) + bytesField(len(m.Error)) + varintField(m.Attempts) +
			len(m.ProtoReflect().GetUnknown())
		n += 1 + protowire.SizeBytes(k)
	}
	return n
}

// bytesField is the size of a non-empty string or bytes field of length l
// (field numbers under 16 take one tag byte), 0 when empty.
func bytesField(l int) int {
	if l == 0 {
		return 0
	}
	return 1 + protowire.SizeBytes(l)
}

// varintField is the size of a uint32 field with a one-byte tag, 0 when
// zero.
func varintField(v uint32) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(uint64(v))
}

// ClientStream takes task batches in and sends result batches out. The
// session comes from metadata "sessionid" or the first batch. After the
// client half-closes, the stream ends once every task of the session has
// its result (or dead letter) and the results are sent.
func (s *Server) ClientStream(stream grpc.BidiStreamingServer[pb.Batch, pb.Batch]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	var sess *session.Session
	var first *pb.Batch
	if id := mdValue(ctx, "sessionid"); id != "" {
		var err error
		if sess, err = s.sessions.Get(id); err != nil {
			return toStatus(err)
		}
	} else {
		b, err := s.firstBatch(stream)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if b.SessionId == "" {
			return toStatus(fmt.Errorf("%w: no session id in metadata or batch", errInvalidBatch))
		}
		if sess, err = s.sessions.Get(b.SessionId); err != nil {
			return toStatus(err)
		}
		first = b
	}
	if err := s.checkClient(ctx, sess); err != nil {
		return err
	}
	detach := sess.Attach(s.now())
	defer func() {
		if detach(s.now()) {
			if d, err := s.sessions.Close(sess.ID); err == nil {
				s.log.Info("session closed", "session", sess.ID, "reason", "cleanup_on_client_exit", "discarded", d.String())
			}
		}
	}()

	halfClosed := make(chan struct{})
	sendDone := make(chan error, 1)
	go func() { sendDone <- s.sendResults(ctx, stream, sess, halfClosed) }()

	recvDone := make(chan error, 1)
	go func() { recvDone <- s.receiveTasks(ctx, stream, sess, first) }()
	select {
	case err := <-recvDone:
		if err != nil {
			cancel()
			<-sendDone
			return err
		}
		close(halfClosed)
		return <-sendDone
	case err := <-sendDone:
		// The session closed or the client went away; the receiver's Recv
		// fails once this handler returns.
		return err
	}
}

// firstBatch reads the first batch of a stream that named no session. A
// stream that sends none within firstBatchTimeout is ended, so that idle
// streams cannot hold the places of maxStreams that others need.
func (s *Server) firstBatch(stream grpc.BidiStreamingServer[pb.Batch, pb.Batch]) (*pb.Batch, error) {
	type got struct {
		b   *pb.Batch
		err error
	}
	ch := make(chan got, 1) // the Recv ends with the stream at the latest
	go func() {
		b, err := stream.Recv()
		ch <- got{b, err}
	}()
	t := time.NewTimer(s.opts.FirstBatchTimeout)
	defer t.Stop()
	select {
	case g := <-ch:
		return g.b, g.err
	case <-t.C:
		s.metrics.refused[limitFirstBatch].Inc()
		return nil, status.Errorf(codes.DeadlineExceeded, "no batch and no sessionid within firstBatchTimeout %v", s.opts.FirstBatchTimeout)
	}
}

// receiveTasks enqueues the client's batches until it half-closes. While
// the task queue is full it does not read, so gRPC flow control slows the
// client and nothing is dropped.
func (s *Server) receiveTasks(ctx context.Context, stream grpc.BidiStreamingServer[pb.Batch, pb.Batch], sess *session.Session, b *pb.Batch) error {
	chk := batchChecker{maxBytes: int(s.opts.MaxBatchBytes), maxMessages: s.opts.MaxBatchMessages}
	for {
		if b == nil {
			var err error
			if b, err = stream.Recv(); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
		}
		if b.SessionId != "" && b.SessionId != sess.ID {
			return toStatus(fmt.Errorf("%w: batch for session %q on a stream of session %q", errInvalidBatch, b.SessionId, sess.ID))
		}
		size, err := chk.check(b)
		if err != nil {
			if errors.Is(err, errTooManyMessages) {
				s.metrics.refused[limitBatchMessages].Inc()
			}
			return toStatus(err)
		}
		b.SessionId = sess.ID
		if dups := sess.Hold(len(b.Messages), func(i int) string { return b.Messages[i].Id }); dups != nil {
			// A resubmission after a reconnect: what the session still
			// holds will be answered once, so only the rest is queued.
			s.metrics.duplicates.Add(float64(len(dups)))
			b.Messages = dropIndexes(b.Messages, dups)
			if len(b.Messages) == 0 {
				b = nil
				continue
			}
		}
		n := len(b.Messages)
		if err := sess.Enqueue(ctx, &session.Batch{Priority: b.Priority, Payload: b, N: len(b.Messages), Bytes: int64(size)}, s.now()); err != nil {
			sess.Release(n, func(i int) string { return b.Messages[i].Id })
			return toStatus(err)
		}
		s.metrics.accepted.Add(float64(n))
		sess.Counts().Accepted.Add(int64(n))
		b = nil
	}
}

// sendResults streams result batches to the client.
// popResults waits for results. After the half-close (done) it also stops
// when every task of the session is answered: every half-closed stream of
// the session wakes then, not only the one that Finish's wake-up item
// reaches.
func popResults(ctx, popCtx context.Context, sess *session.Session, buf []queue.Item, done bool) (int, error) {
	if !done {
		return sess.PopResults(popCtx, buf)
	}
	answered := sess.Answered()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-answered:
			cancel()
		case <-pctx.Done():
		}
	}()
	return sess.PopResults(pctx, buf)
}

func (s *Server) sendResults(ctx context.Context, stream grpc.BidiStreamingServer[pb.Batch, pb.Batch], sess *session.Session, halfClosed <-chan struct{}) error {
	buf := make([]queue.Item, 64)
	popCtx, popCancel := context.WithCancel(ctx)
	defer popCancel()
	popDone := popCtx.Done()
	go func() {
		select {
		case <-halfClosed:
			popCancel() // re-check the end condition now
		case <-popDone:
		}
	}()
	// The answer being written, registered for the resubmission window
	// (core/session, held.go); one for every write of this stream.
	var cur *pb.Batch
	ans := &session.Answer{ID: func(i int) string { return cur.Messages[i].Id }}
	done := false
	for {
		if !done {
			select {
			case <-halfClosed:
				done = true
			default:
			}
		}
		// Outstanding counts a task until its results are sent or it is
		// dead-lettered, so results another stream holds keep this one open.
		if done && sess.Outstanding() <= 0 {
			return nil
		}
		n, err := popResults(ctx, popCtx, sess, buf, done)
		if err != nil {
			if errors.Is(err, session.ErrClosed) {
				return status.Errorf(codes.NotFound, "session %q closed", sess.ID)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue // the half-close, or every task answered: look again
		}
		for i := range n {
			t := buf[i].Value.(*session.Batch) // worker.go's complete
			b := t.Payload.(*pb.Batch)
			cur, ans.N = b, len(b.Messages)
			sess.Sending(ans)
			err := stream.Send(b)
			if err == nil {
				if resent := sess.Sent(ans); resent != nil {
					// Resubmitted while this write was under way: the
					// stream may be dead, so answer those again.
					t.Payload = pickMessages(b, resent)
					_ = sess.OfferResult(context.Background(), t)
				} else {
					sess.Delivered(t.Bytes)
					sess.Finish()
				}
			}
			if err != nil {
				sess.Unsent(ans)
				// Keep what this client did not get for the next one.
				for _, it := range buf[i:n] {
					_ = sess.OfferResult(context.Background(), it.Value)
				}
				return err
			}
			buf[i] = queue.Item{}
		}
	}
}

// pickMessages returns a copy of b with only the messages at indexes.
func pickMessages(b *pb.Batch, indexes []int) *pb.Batch {
	c := &pb.Batch{Id: b.Id, SessionId: b.SessionId, Messages: make([]*pb.Message, len(indexes))}
	for j, i := range indexes {
		c.Messages[j] = b.Messages[i]
	}
	return c
}

// dropIndexes removes the messages at the ascending indexes drop.
func dropIndexes(msgs []*pb.Message, drop []int) []*pb.Message {
	out := msgs[:0]
	for i, m := range msgs {
		if len(drop) > 0 && drop[0] == i {
			drop = drop[1:]
			continue
		}
		out = append(out, m)
	}
	clear(msgs[len(out):])
	return out
}
