package queuemanager

import (
	"slices"
	"sort"
	"testing"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// recvBatchIDs waits for the worker's next batch and returns it with its
// message ids.
func recvBatchIDs(t *testing.T, st interface{ Recv() (*pb.Batch, error) }) (*pb.Batch, []string) {
	t.Helper()
	b, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range b.Messages {
		got = append(got, m.Id)
	}
	return b, got
}

// A client resubmits after a reconnect: ids the session still holds (at a
// worker, or failed and waiting in the dead letters) are dropped from the
// resubmission; ids whose answer was already sent run again, because the
// client only resubmits what it did not receive.
func TestResubmissionSkipsHeldTasks(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	sess, _ := ts.sessions.Get(s.Id)
	cs := ts.clientStream(t, ctx, s.Id)
	if err := cs.Send(batchOf(s.Id, "a", "b", "bad")); err != nil {
		t.Fatal(err)
	}
	w := ts.newRawWorker(t, ctx)
	st := w.bindNext(t, s.Id)
	first, got := recvBatchIDs(t, st)
	if !slices.Equal(got, []string{"a", "b", "bad"}) {
		t.Fatalf("worker got %v", got)
	}

	// Resubmitted on a second stream while the first batch is at the worker.
	cs2 := ts.clientStream(t, ctx, s.Id)
	if err := cs2.Send(batchOf(s.Id, "a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	second, got := recvBatchIDs(t, st)
	if !slices.Equal(got, []string{"c"}) {
		t.Fatalf("resubmission reached the worker as %v, want only the new task c", got)
	}
	if d := counterValue(ts.metrics.duplicates); d != 2 {
		t.Fatalf("duplicates counted %v, want 2", d)
	}
	r := echo(first)
	r.Messages[2].Error = "boom"
	for _, b := range []*pb.Batch{r, echo(second)} {
		if err := st.Send(b); err != nil {
			t.Fatal(err)
		}
	}
	var results []string
	answers := make(chan string, 16)
	go recvInto(cs, answers) // both end with the test's context
	go recvInto(cs2, answers)
	for len(results) < 3 { // a, b, c: each once, on whichever stream
		select {
		case id := <-answers:
			results = append(results, id)
		case <-ctx.Done():
			t.Fatalf("results so far %v", results)
		}
	}
	sort.Strings(results)
	if !slices.Equal(results, []string{"a", "b", "c"}) {
		t.Fatalf("results %v", results)
	}
	waitFor(t, func() bool { return sess.Held() == 1 }, "answered ids released, the dead letter still held")

	// The failed task is held until its dead letter is read: resubmitting
	// it is dropped, so it cannot end with both a dead letter and a result.
	if err := cs.Send(batchOf(s.Id, "bad")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return counterValue(ts.metrics.duplicates) == 3 }, "held dead letter dropped")
	if dead := readDead(t, ctx, ts, s.Id); len(dead) != 1 || dead[0].Id != "bad" {
		t.Fatalf("dead letters %v", dead)
	}
	if n := sess.Held(); n != 0 {
		t.Fatalf("%d ids held after every answer was read", n)
	}
	// Answered ids are free again: a client that lost "a"'s result gets
	// it run anew.
	if err := cs.Send(batchOf(s.Id, "a", "bad")); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-answers:
		t.Fatalf("extra result %s", id)
	default:
	}
	if _, got := recvBatchIDs(t, st); !slices.Equal(got, []string{"a", "bad"}) {
		t.Fatalf("after the answers were sent, resubmission reached the worker as %v", got)
	}
}

// recvInto sends the result ids of st to out until st ends.
func recvInto(st interface{ Recv() (*pb.Batch, error) }, out chan<- string) {
	for {
		b, err := st.Recv()
		if err != nil {
			return
		}
		for _, m := range b.Messages {
			out <- m.Id
		}
	}
}
