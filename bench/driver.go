package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/alpcrun/alpcrun/core/stats"
	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// Stream is the client side of Queue.ClientStream: what the driver needs
// from every system, the relay and the queue manager alike.
type Stream = grpc.BidiStreamingClient[alpcrunpb.Batch, alpcrunpb.Batch]

// Shape is one end-to-end configuration.
type Shape struct {
	Workers int // worker streams, each on its own connection
	Batch   int // tasks per batch
	Payload int // bytes per task payload
	// Inflight caps the batches sent and not yet fully answered: the
	// driver is a closed loop with this window.
	Inflight int
	// Shared makes every batch require the session's shared data (level
	// 0), which each worker reads through its node cache (SharedData).
	Shared bool
}

// Name is the shape's benchmark path, e.g.
// "workers=4/batch=100/payload=64/inflight=32". It leaves Shared out: the
// benchmarks that vary it name it themselves, so that the rows of
// BenchmarkE2E, all without shared data, keep their names.
func (s Shape) Name() string {
	return fmt.Sprintf("workers=%d/batch=%d/payload=%d/inflight=%d", s.Workers, s.Batch, s.Payload, s.Inflight)
}

// Result is what one Run measured. Latency holds one value per task: from
// its batch's Send to the arrival of its result.
type Result struct {
	Received   int    // distinct tasks whose result arrived
	Duplicates int    // results for a task that had already been answered
	IDSum      uint64 // sum of the received task indices
	Elapsed    time.Duration
	Latency    *stats.Histogram
}

// TasksPerSec is Received over Elapsed.
func (r Result) TasksPerSec() float64 { return float64(r.Received) / r.Elapsed.Seconds() }

// Verify reports whether each of n tasks came back exactly once.
func (r Result) Verify(n int) error {
	want := uint64(n) * uint64(n-1) / 2
	if r.Received != n || r.Duplicates != 0 || r.IDSum != want {
		return fmt.Errorf("bench: %d of %d tasks returned, %d duplicates, id sum %d want %d",
			r.Received, n, r.Duplicates, r.IDSum, want)
	}
	return nil
}

// Run sends n tasks on st in batches of s.Batch (the last one may be
// smaller), with at most s.Inflight batches unanswered, and reads results
// until every task is answered. Task i has message id strconv.Itoa(i); ids
// are unique within the run, so results may come back in any batching and
// order. Send times stay on the driver side, indexed by batch. Run stops at
// the first stream error, a result it did not send, or ctx's end, and the
// Result says how far it got. Callers cancel the stream's context to tear
// it down; Run neither closes nor drains it.
func Run(ctx context.Context, st Stream, sessionID string, s Shape, n int) (Result, error) {
	if s.Batch < 1 || s.Inflight < 1 || n < 1 {
		return Result{}, fmt.Errorf("bench: bad shape %+v for %d tasks", s, n)
	}
	nb := (n + s.Batch - 1) / s.Batch
	d := &driver{
		st:        st,
		session:   sessionID,
		shape:     s,
		n:         n,
		payload:   payload(s.Payload),
		sent:      make([]atomic.Int64, nb),
		remaining: make([]int32, nb),
		seen:      make([]bool, n),
		slots:     make(chan struct{}, s.Inflight),
		sendErr:   make(chan error, 1),
		lat:       stats.NewHistogram(),
	}
	d.res.Latency = d.lat
	for i := range d.remaining {
		d.remaining[i] = int32(min(s.Batch, n-i*s.Batch))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.start = time.Now()
	go d.send(ctx)
	if err := d.recv(ctx); err != nil {
		// The sender may be blocked in Send until the caller cancels
		// the stream; it touches nothing the caller sees.
		return d.res, err
	}
	return d.res, <-d.sendErr
}

type driver struct {
	st      Stream
	session string
	shape   Shape
	n       int
	payload []byte
	start   time.Time
	// sent[i] is batch i's send time in ns since start, written before the
	// batch's Send and read when one of its results arrives. That order
	// goes through the socket, which the race detector cannot see: atomic.
	sent      []atomic.Int64
	remaining []int32 // unanswered tasks per batch; receiver only
	seen      []bool  // receiver only
	slots     chan struct{}
	sendErr   chan error
	lat       *stats.Histogram
	res       Result
}

// send fills the window and sends one batch per free slot. The Batch and
// its Messages are reused: SendMsg marshals before it returns and nothing
// here (no stats handler, no binary log) holds the message afterwards.
func (d *driver) send(ctx context.Context) {
	b := &alpcrunpb.Batch{SessionId: d.session}
	if d.shape.Shared {
		b.UseSharedData, b.RequiredSharedDataUpdateLevel = proto.Bool(true), proto.Uint32(0)
	}
	msgs := make([]alpcrunpb.Message, d.shape.Batch)
	ptrs := make([]*alpcrunpb.Message, d.shape.Batch)
	for i := range msgs {
		msgs[i].Payload = d.payload
		ptrs[i] = &msgs[i]
	}
	var idBuf []byte
	ends := make([]int, d.shape.Batch)
	var err error
	for bi := range d.sent {
		select {
		case d.slots <- struct{}{}:
		case <-ctx.Done():
			d.sendErr <- nil
			return
		}
		first := bi * d.shape.Batch
		k := min(d.shape.Batch, d.n-first)
		// One string holds all ids of the batch: one allocation per batch.
		idBuf = idBuf[:0]
		for j := range k {
			idBuf = strconv.AppendInt(idBuf, int64(first+j), 10)
			ends[j] = len(idBuf)
		}
		ids := string(idBuf)
		lo := 0
		for j := range k {
			msgs[j].Id = ids[lo:ends[j]]
			lo = ends[j]
		}
		b.Messages = ptrs[:k]
		d.sent[bi].Store(int64(time.Since(d.start)))
		if err = d.st.Send(b); err != nil {
			break
		}
	}
	d.sendErr <- err
}

// recv reads results until every task is answered, checking each one and
// recording its latency, and frees a window slot when a batch is done.
func (d *driver) recv(ctx context.Context) error {
	defer func() { d.res.Elapsed = time.Since(d.start) }()
	r := new(alpcrunpb.Batch)
	for d.res.Received < d.n {
		if err := d.st.RecvMsg(r); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("bench: stopped after %d of %d tasks: %w", d.res.Received, d.n, ctx.Err())
			}
			return fmt.Errorf("bench: receive after %d of %d tasks: %w", d.res.Received, d.n, err)
		}
		now := int64(time.Since(d.start))
		for _, m := range r.Messages {
			i, ok := parseIndex(m.Id, d.n)
			switch {
			case !ok:
				return fmt.Errorf("bench: result for unknown task id %q", m.Id)
			case m.Error != "":
				return fmt.Errorf("bench: task %d failed: %s", i, m.Error)
			case len(m.Payload) != len(d.payload):
				return fmt.Errorf("bench: task %d returned %d payload bytes, want %d", i, len(m.Payload), len(d.payload))
			case d.seen[i]:
				d.res.Duplicates++
				continue
			}
			d.seen[i] = true
			d.res.Received++
			d.res.IDSum += uint64(i)
			bi := i / d.shape.Batch
			d.lat.Record(time.Duration(now - d.sent[bi].Load()))
			if d.remaining[bi]--; d.remaining[bi] == 0 {
				<-d.slots
			}
		}
	}
	return nil
}

// parseIndex parses a decimal task index below n without allocating.
func parseIndex(s string, n int) (int, bool) {
	if len(s) == 0 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
		if v >= n {
			return 0, false
		}
	}
	return v, true
}

// payload returns size bytes from a fixed seed, so every run sends the same.
func payload(size int) []byte {
	p := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}
