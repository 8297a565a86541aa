package queuemanager

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// clientStream opens a ClientStream attached to session id.
func (ts *testServer) clientStream(t *testing.T, ctx context.Context, id string) grpc.BidiStreamingClient[pb.Batch, pb.Batch] {
	t.Helper()
	st, err := ts.q.ClientStream(metadata.NewOutgoingContext(ctx, metadata.Pairs("sessionid", id)))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// recvIDs collects result message ids until n arrived.
func recvIDs(t *testing.T, st grpc.BidiStreamingClient[pb.Batch, pb.Batch], n int) []string {
	t.Helper()
	var ids []string
	for len(ids) < n {
		b, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d results: %v", len(ids), err)
		}
		for _, m := range b.Messages {
			ids = append(ids, m.Id)
		}
	}
	return ids
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

// bindNext waits for the BIND of session id and opens the worker stream.
func (w *rawWorker) bindNext(t *testing.T, id string) grpc.BidiStreamingClient[pb.Batch, pb.Batch] {
	t.Helper()
	in := w.next(t)
	if in.Type != pb.Instruction_BIND || in.SessionId != id {
		t.Fatalf("instruction %v, want BIND %s", in, id)
	}
	return w.openStream(t, id)
}

// serveEcho answers every batch on st until it ends.
func serveEcho(st grpc.BidiStreamingClient[pb.Batch, pb.Batch]) {
	for {
		b, err := st.Recv()
		if err != nil {
			return
		}
		if st.Send(echo(b)) != nil {
			return
		}
	}
}

func TestRoundTripSingleWorker(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	w := ts.newRawWorker(t, ctx)
	cs := ts.clientStream(t, ctx, s.Id)
	want := ids("t", 50)
	for i := 0; i < len(want); i += 10 {
		if err := cs.Send(batchOf(s.Id, want[i:i+10]...)); err != nil {
			t.Fatal(err)
		}
	}
	go serveEcho(w.bindNext(t, s.Id))
	got := recvIDs(t, cs, len(want))
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("results %v", got)
	}
	// Half-close: the stream ends once everything is answered.
	if err := cs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Recv(); err != io.EOF {
		t.Fatalf("after half-close Recv = %v, want EOF", err)
	}
}

func TestSilentWorkerGetsMaxInflight(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, &pb.SessionAttributes{MaxInflightBatchesPerWorker: 3, MaxWorkers: u32(1)})
	w := ts.newRawWorker(t, ctx)
	cs := ts.clientStream(t, ctx, s.Id)
	for i := range 10 {
		if err := cs.Send(batchOf(s.Id, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	endClientStream(t, cs, s.Id) // all 10 queued
	st := w.bindNext(t, s.Id)
	var got []*pb.Batch
	for range 3 {
		b, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
	}
	// The sender takes a fourth batch only once it has credit.
	sess, _ := ts.sessions.Get(s.Id)
	if n := sess.Pending(); n != 7 {
		t.Fatalf("%d batches queued after 3 were sent, want 7", n)
	}
	// A fourth batch is sent only after an answer.
	extra := make(chan *pb.Batch, 1)
	go func() {
		b, err := st.Recv()
		if err == nil {
			extra <- b
		}
	}()
	select {
	case b := <-extra:
		t.Fatalf("batch %v sent beyond max_inflight", b.Id)
	case <-time.After(100 * time.Millisecond):
	}
	if err := st.Send(echo(got[0])); err != nil {
		t.Fatal(err)
	}
	select {
	case <-extra:
	case <-ctx.Done():
		t.Fatal("no batch after an answer freed a slot")
	}
}

// endClientStream sends a batch without messages and waits for the
// refusal that ends the stream. The queue manager handles a stream's
// batches in order and detaches the client before the status goes out, so
// once the refusal arrives every batch sent before is queued and no client
// is attached through cs.
func endClientStream(t *testing.T, cs grpc.BidiStreamingClient[pb.Batch, pb.Batch], sessionID string) {
	t.Helper()
	if err := cs.Send(&pb.Batch{SessionId: sessionID}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := cs.Recv(); err != nil {
			wantCode(t, err, codes.InvalidArgument)
			return
		}
	}
}

// waitAnswered half-closes a client stream and waits for its end, which
// comes once every task of the session has a result or a dead letter.
func waitAnswered(t *testing.T, cs grpc.BidiStreamingClient[pb.Batch, pb.Batch]) {
	t.Helper()
	if err := cs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := cs.Recv(); err == io.EOF {
			return
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// waitStreamEnd half-closes a worker stream and waits for the queue manager
// to end it, which it does after handling every answer sent before.
func waitStreamEnd(t *testing.T, st grpc.BidiStreamingClient[pb.Batch, pb.Batch]) {
	t.Helper()
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := st.Recv(); err != nil {
			return
		}
	}
}

// waitFor polls cond until it holds or the test's deadline passes.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWorkerDiesMidBatchRedelivers(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, &pb.SessionAttributes{MaxWorkers: u32(1)})
	cs := ts.clientStream(t, ctx, s.Id)
	want := ids("r", 20)
	for i := 0; i < len(want); i += 5 {
		if err := cs.Send(batchOf(s.Id, want[i:i+5]...)); err != nil {
			t.Fatal(err)
		}
	}
	w1 := ts.newRawWorker(t, ctx)
	st := w1.bindNext(t, s.Id)
	first, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if first.Messages[0].Attempts != 1 {
		t.Fatalf("attempts = %d on first delivery", first.Messages[0].Attempts)
	}
	w1.cancel() // the worker process dies: both streams break

	w2 := ts.newRawWorker(t, ctx)
	st2 := w2.bindNext(t, s.Id)
	// Batches w1 never took may reach w2 before w1's death is noticed;
	// the first redelivered one must be the first that w1 held.
	for {
		again, err := st2.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := st2.Send(echo(again)); err != nil {
			t.Fatal(err)
		}
		if again.Messages[0].Attempts == 2 {
			if again.Id != first.Id {
				t.Fatalf("first redelivery = batch %s; want batch %s (front of the queue)", again.Id, first.Id)
			}
			break
		}
	}
	go serveEcho(st2)
	got := recvIDs(t, cs, len(want))
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("results %v, want each of %v once", got, want)
	}
}

func TestAttemptsExhaustedDeadLetters(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, &pb.SessionAttributes{MaxAttempts: 2, MaxWorkers: u32(1)})
	cs := ts.clientStream(t, ctx, s.Id)
	if err := cs.Send(batchOf(s.Id, "doomed")); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		w := ts.newRawWorker(t, ctx)
		st := w.bindNext(t, s.Id)
		b, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Messages[0].Attempts; got != uint32(attempt) {
			t.Fatalf("attempts = %d, want %d", got, attempt)
		}
		w.cancel()
		<-w.ctlDone
	}
	waitAnswered(t, cs)
	dead := readDead(t, ctx, ts, s.Id)
	if len(dead) != 1 || dead[0].Id != "doomed" || dead[0].Error != "attempts exhausted" {
		t.Fatalf("dead letters %v", dead)
	}
	if n := counterValue(ts.metrics.dead); n != 1 {
		t.Fatalf("alpcrun_tasks_total{outcome=dead} = %v, want 1", n)
	}
	if again := readDead(t, ctx, ts, s.Id); len(again) != 0 {
		t.Fatalf("dead letters not removed once read: %v", again)
	}
}

func readDead(t *testing.T, ctx context.Context, ts *testServer, id string) []*pb.Message {
	t.Helper()
	st, err := ts.q.ClientStreamDeadLetters(ctx, &pb.Session{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	var out []*pb.Message
	for {
		b, err := st.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Messages...)
	}
}

func TestWorkerErrorsGoToDeadLetters(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	cs := ts.clientStream(t, ctx, s.Id)
	if err := cs.Send(batchOf(s.Id, "ok1", "bad", "ok2", "unanswered")); err != nil {
		t.Fatal(err)
	}
	w := ts.newRawWorker(t, ctx)
	st := w.bindNext(t, s.Id)
	b, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	r := &pb.Batch{Id: b.Id, Messages: []*pb.Message{
		{Id: "ok1", Payload: []byte("1")}, {Id: "bad", Error: "boom"}, {Id: "ok2"}, {Id: "stranger"},
	}}
	if err := st.Send(r); err != nil {
		t.Fatal(err)
	}
	got := recvIDs(t, cs, 2)
	if !slices.Equal(got, []string{"ok1", "ok2"}) {
		t.Fatalf("results %v", got)
	}
	waitAnswered(t, cs)
	dead := readDead(t, ctx, ts, s.Id)
	errs := map[string]string{}
	for _, m := range dead {
		errs[m.Id] = m.Error
	}
	if len(errs) != 2 || errs["bad"] != "boom" || errs["unanswered"] != errNoResult {
		t.Fatalf("dead letters %v", errs)
	}
	// A late duplicate answer for the same batch is dropped.
	if err := st.Send(echo(b)); err != nil {
		t.Fatal(err)
	}
	waitStreamEnd(t, st)
	if n := counterValue(ts.metrics.late); n != 1 {
		t.Fatalf("alpcrun_late_results_total = %v, want 1", n)
	}
	sess, _ := ts.sessions.Get(s.Id)
	if n := sess.ResultsLen(); n != 0 {
		t.Fatalf("late answer reached the results: %d queued", n)
	}
}

func TestTaskTimeoutRedelivers(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	// Attempts to spare: a test slowed past further task timeouts still
	// finds the batch in flight, not dead-lettered.
	s := ts.createSession(t, ctx, &pb.SessionAttributes{TaskTimeout: durationpb.New(50 * time.Millisecond), MaxWorkers: u32(1), MaxAttempts: 1000})
	cs := ts.clientStream(t, ctx, s.Id)
	if err := cs.Send(batchOf(s.Id, "slow")); err != nil {
		t.Fatal(err)
	}
	w := ts.newRawWorker(t, ctx)
	st := w.bindNext(t, s.Id)
	first, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	second, err := st.Recv() // the same batch again after task_timeout
	if err != nil {
		t.Fatal(err)
	}
	if second.Id != first.Id || second.Messages[0].Attempts != 2 {
		t.Fatalf("redelivery %s attempts %d", second.Id, second.Messages[0].Attempts)
	}
	if err := st.Send(echo(first)); err != nil { // answers the current flight
		t.Fatal(err)
	}
	if err := st.Send(echo(second)); err != nil { // late: dropped
		t.Fatal(err)
	}
	if got := recvIDs(t, cs, 1); got[0] != "slow" {
		t.Fatal(got)
	}
	waitStreamEnd(t, st)
	if n := counterValue(ts.metrics.late); n != 1 {
		t.Fatalf("alpcrun_late_results_total = %v, want 1: the second answer was not dropped", n)
	}
}

func TestCloseSessionUnbindsAndDiscards(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	cs := ts.clientStream(t, ctx, s.Id)
	for i := range 5 {
		if err := cs.Send(batchOf(s.Id, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	w := ts.newRawWorker(t, ctx)
	w.bindNext(t, s.Id)
	st, err := ts.q.CloseSession(ctx, &pb.Session{Id: s.Id})
	if err != nil {
		t.Fatal(err)
	}
	if in := w.next(t); in.Type != pb.Instruction_UNBIND || in.SessionId != s.Id {
		t.Fatalf("instruction %v, want UNBIND", in)
	}
	t.Log(st.Message)
	_, err = cs.Recv()
	wantCode(t, err, codes.NotFound)
	_, err = ts.q.ClientStream(ctx)
	if err == nil {
		cs2 := ts.clientStream(t, ctx, s.Id)
		_, err = cs2.Recv()
	}
	wantCode(t, err, codes.NotFound)
}

func TestCleanupOnClientExit(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, &pb.SessionAttributes{CleanupOnClientExit: true})
	cctx, cancel := context.WithCancel(ctx)
	cs := ts.clientStream(t, cctx, s.Id)
	if err := cs.Send(batchOf(s.Id, "x")); err != nil {
		t.Fatal(err)
	}
	// A worker is bound once the batch is queued, and unbound when the
	// session closes.
	w := ts.newRawWorker(t, ctx)
	w.bindNext(t, s.Id)
	cancel()
	if in := w.next(t); in.Type != pb.Instruction_UNBIND || in.SessionId != s.Id {
		t.Fatalf("instruction %v, want UNBIND", in)
	}
	if _, err := ts.sessions.Get(s.Id); err == nil {
		t.Fatal("session still open after its client left")
	}
}

func TestIdleSessionUnbindsWorkers(t *testing.T) {
	clock := servicetest.NewClock()
	ts := startServer(t, Options{Now: clock.Now, WorkerTimeout: time.Hour})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, &pb.SessionAttributes{IdleTimeout: durationpb.New(time.Minute)})
	cctx, cancel := context.WithCancel(ctx)
	cs := ts.clientStream(t, cctx, s.Id)
	for i := range 3 {
		if err := cs.Send(batchOf(s.Id, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	w := ts.newRawWorker(t, ctx)
	w.bindNext(t, s.Id) // silent: the tasks stay in flight
	endClientStream(t, cs, s.Id)
	cancel()
	clock.Advance(2 * time.Minute)
	if in := w.next(t); in.Type != pb.Instruction_UNBIND {
		t.Fatalf("instruction %v, want UNBIND of the idle session", in)
	}
	// The session stays for a reconnecting client.
	if _, err := ts.sessions.Get(s.Id); err != nil {
		t.Fatal(err)
	}
}

// A session that finished its work but stays open gives its worker to a
// session that waits for one.
func TestDrainedSessionHandsWorkerOver(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	a := ts.createSession(t, ctx, nil)
	b := ts.createSession(t, ctx, nil)
	w := ts.newRawWorker(t, ctx)
	ca := ts.clientStream(t, ctx, a.Id)
	if err := ca.Send(batchOf(a.Id, "a1")); err != nil {
		t.Fatal(err)
	}
	go serveEcho(w.bindNext(t, a.Id))
	recvIDs(t, ca, 1)
	cb := ts.clientStream(t, ctx, b.Id)
	if err := cb.Send(batchOf(b.Id, "b1")); err != nil {
		t.Fatal(err)
	}
	if in := w.next(t); in.Type != pb.Instruction_UNBIND || in.SessionId != a.Id {
		t.Fatalf("instruction %v, want UNBIND of the drained session", in)
	}
	go serveEcho(w.bindNext(t, b.Id))
	if got := recvIDs(t, cb, 1); got[0] != "b1" {
		t.Fatal(got)
	}
}

func TestMaxWorkersHard(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, &pb.SessionAttributes{MaxWorkers: u32(1)})
	w1, w2 := ts.newRawWorker(t, ctx), ts.newRawWorker(t, ctx)
	cs := ts.clientStream(t, ctx, s.Id)
	for i := range 20 {
		if err := cs.Send(batchOf(s.Id, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var bound *rawWorker
	select {
	case in := <-w1.instr:
		bound, w1.instr = w1, nil
		_ = in
	case in := <-w2.instr:
		bound, w2.instr = w2, nil
		_ = in
	case <-ctx.Done():
		t.Fatal("no BIND")
	}
	go serveEcho(bound.openStream(t, s.Id))
	recvIDs(t, cs, 20)
	for _, w := range []*rawWorker{w1, w2} {
		if w.instr == nil {
			continue
		}
		select {
		case in := <-w.instr:
			t.Fatalf("second worker got %v beyond max_workers 1", in)
		default:
		}
	}
}

func TestPreemptionTakesFromLowerPriority(t *testing.T) {
	ts := startServer(t, Options{Preemption: true})
	ctx := testCtx(t)
	low := ts.createSession(t, ctx, &pb.SessionAttributes{Priority: 1, Preemptible: true})
	w := ts.newRawWorker(t, ctx)
	cl := ts.clientStream(t, ctx, low.Id)
	for i := range 5 {
		if err := cl.Send(batchOf(low.Id, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	stLow := w.bindNext(t, low.Id)
	held, err := stLow.Recv() // one low batch in flight at the worker
	if err != nil {
		t.Fatal(err)
	}
	high := ts.createSession(t, ctx, &pb.SessionAttributes{Priority: 5})
	ch := ts.clientStream(t, ctx, high.Id)
	if err := ch.Send(batchOf(high.Id, "h")); err != nil {
		t.Fatal(err)
	}
	if in := w.next(t); in.Type != pb.Instruction_UNBIND || in.SessionId != low.Id {
		t.Fatalf("instruction %v, want UNBIND of the preemptible session", in)
	}
	// The in-flight batches are finished, not lost: their results reach
	// the client, and the server ends the stream after the last answer.
	if err := stLow.Send(echo(held)); err != nil {
		t.Fatal(err)
	}
	serveEcho(stLow)
	go serveEcho(w.bindNext(t, high.Id))
	if got := recvIDs(t, ch, 1); got[0] != "h" {
		t.Fatal(got)
	}
	if got := recvIDs(t, cl, 1); got[0] != "0" {
		t.Fatalf("low session result %v, want its in-flight task 0", got)
	}
}

// More sessions than workers: a session that is done for now hands its
// worker over at once, without waiting for a scheduler tick (an hour here).
func TestSessionsShareOneWorkerWithoutTicks(t *testing.T) {
	ts := startServer(t, Options{SchedulerInterval: time.Hour})
	ctx := testCtx(t)
	w := ts.newRawWorker(t, ctx)
	go func() {
		for {
			select {
			case in := <-w.instr:
				if in.Type == pb.Instruction_BIND {
					go serveEcho(w.openStream(t, in.SessionId))
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	done := make(chan error, 3)
	for i := range 3 {
		s := ts.createSession(t, ctx, nil)
		go func() {
			cs := ts.clientStream(t, ctx, s.Id)
			for j := range 5 {
				if err := cs.Send(batchOf(s.Id, fmt.Sprintf("%d-%d", i, j))); err != nil {
					done <- err
					return
				}
			}
			_ = cs.CloseSend()
			n := 0
			for {
				b, err := cs.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					done <- err
					return
				}
				n += len(b.Messages)
			}
			if n != 5 {
				done <- fmt.Errorf("session %d: %d results", i, n)
				return
			}
			done <- nil
		}()
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
