package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/internal/servicetest"
)

// eventWait bounds every wait for something that must happen.
const eventWait = servicetest.Timeout

// blockCheck is how long a call must stay blocked to count as blocked. A
// call that should block cannot pass by luck, so this only trades the
// chance of catching a wrong early return against test time.
const blockCheck = 20 * time.Millisecond

// forEachKind runs fn as a parallel subtest for every kind New accepts, so
// that one suite holds every implementation to the Queue contract.
func forEachKind(t *testing.T, fn func(t *testing.T, k Kind)) {
	t.Helper()
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			fn(t, k)
		})
	}
}

// buffered reports whether k stores items; speed only hands them over.
func buffered(k Kind) bool { return k != Speed }

func newQueue(t *testing.T, k Kind, capacity int) Queue {
	t.Helper()
	q, err := New(k, Options{Capacity: capacity})
	if err != nil {
		t.Fatalf("New(%q): %v", k, err)
	}
	t.Cleanup(q.Close)
	return q
}

// testCtx bounds the blocking calls of a test, so that a broken queue fails
// the test instead of hanging it.
func testCtx(t *testing.T) context.Context { return servicetest.Context(t) }

func item(v int) Item { return Item{Value: v} }

// value is the int carried by it, or -1 for anything else.
func value(it Item) int {
	if v, ok := it.Value.(int); ok {
		return v
	}
	return -1
}

func values(its []Item) []int {
	vs := make([]int, len(its))
	for i, it := range its {
		vs[i] = value(it)
	}
	return vs
}

type popResult struct {
	it  Item
	err error
}

type batchResult struct {
	items []Item
	err   error
}

func goPush(ctx context.Context, q Queue, it Item) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- q.Push(ctx, it) }()
	return ch
}

func goPop(ctx context.Context, q Queue) <-chan popResult {
	ch := make(chan popResult, 1)
	go func() {
		it, err := q.Pop(ctx)
		ch <- popResult{it, err}
	}()
	return ch
}

func goPopBatch(ctx context.Context, q Queue, size int) <-chan batchResult {
	ch := make(chan batchResult, 1)
	go func() {
		dst := make([]Item, size)
		n, err := q.PopBatch(ctx, dst)
		ch <- batchResult{dst[:n], err}
	}()
	return ch
}

// await returns what ch delivers, failing the test if nothing comes.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(eventWait):
		t.Fatalf("%s: nothing within %v", what, eventWait)
		var zero T
		return zero
	}
}

// stillBlocked fails the test if ch delivers within blockCheck.
func stillBlocked[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned %+v, want it to block", what, v)
	case <-time.After(blockCheck):
	}
}

func mustTryPush(t *testing.T, q Queue, it Item) {
	t.Helper()
	if err := q.TryPush(it); err != nil {
		t.Fatalf("TryPush(%v): %v", it.Value, err)
	}
}

func mustPop(t *testing.T, ctx context.Context, q Queue) Item {
	t.Helper()
	it, err := q.Pop(ctx)
	if err != nil {
		t.Fatalf("Pop: %v", err)
	}
	return it
}

// offer pushes it into q the way a test can without blocking forever:
// TryPush for buffered kinds, for speed a Push that a waiting consumer takes.
func offer(t *testing.T, ctx context.Context, q Queue, k Kind, it Item) {
	t.Helper()
	if buffered(k) {
		mustTryPush(t, q, it)
		return
	}
	if err := q.Push(ctx, it); err != nil {
		t.Fatalf("Push(%v): %v", it.Value, err)
	}
}

func TestKinds(t *testing.T) {
	ks := Kinds()
	if !slices.IsSorted(ks) {
		t.Errorf("Kinds() = %v, not sorted", ks)
	}
	for _, want := range []Kind{Priority, FIFO, LockFree, Speed, Mutex} {
		if !slices.Contains(ks, want) {
			t.Errorf("Kinds() = %v, missing %q", ks, want)
		}
	}
	for _, k := range ks {
		q, err := New(k, Options{})
		if err != nil || q == nil {
			t.Fatalf("New(%q) = %v, %v", k, q, err)
		}
		q.Close()
	}
	q, err := New("bogus", Options{})
	if !errors.Is(err, ErrUnknownKind) || q != nil {
		t.Errorf("New(bogus) = %v, %v; want nil, ErrUnknownKind", q, err)
	}
}

func TestCapacity(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		for _, tc := range []struct{ opt, want int }{
			{0, DefaultCapacity}, {-1, DefaultCapacity}, {1, 1}, {7, 7},
		} {
			q := newQueue(t, k, tc.opt)
			want := tc.want
			if !buffered(k) {
				want = 0
			}
			if got := q.Cap(); got != want {
				t.Fatalf("Capacity %d: Cap() = %d, want %d", tc.opt, got, want)
			}
			for i := range want {
				mustTryPush(t, q, item(i))
				if got := q.Len(); got != i+1 {
					t.Fatalf("Capacity %d: Len() = %d after %d pushes", tc.opt, got, i+1)
				}
			}
			if err := q.TryPush(item(want)); !errors.Is(err, ErrFull) {
				t.Fatalf("Capacity %d: TryPush into a full queue = %v, want ErrFull", tc.opt, err)
			}
			if got := q.Len(); got != want {
				t.Fatalf("Capacity %d: Len() = %d after ErrFull, want %d", tc.opt, got, want)
			}
		}
	})
}

func TestPushBlocksWhileFull(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		ctx := testCtx(t)
		q := newQueue(t, k, 2)
		var want []int
		for i := range q.Cap() {
			mustTryPush(t, q, item(i))
			want = append(want, i)
		}
		want = append(want, 100)
		done := goPush(ctx, q, item(100))
		stillBlocked(t, done, "Push into a full queue")
		if got := q.Len(); got != q.Cap() {
			t.Fatalf("Len() = %d with a Push blocked, want %d", got, q.Cap())
		}
		got := []int{value(mustPop(t, ctx, q))}
		if err := await(t, done, "Push after a Pop made room"); err != nil {
			t.Fatalf("Push after a Pop made room: %v", err)
		}
		for len(got) < len(want) {
			got = append(got, value(mustPop(t, ctx, q)))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("popped %v, want %v", got, want)
		}
		if got := q.Len(); got != 0 {
			t.Fatalf("Len() = %d after draining", got)
		}
	})
}

func TestPopBlocksWhileEmpty(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		ctx := testCtx(t)
		q := newQueue(t, k, 4)
		pop := goPop(ctx, q)
		stillBlocked(t, pop, "Pop on an empty queue")
		offer(t, ctx, q, k, item(1))
		if r := await(t, pop, "Pop after a push"); r.err != nil || value(r.it) != 1 {
			t.Fatalf("Pop = %v, %v; want 1", r.it.Value, r.err)
		}
		batch := goPopBatch(ctx, q, 8)
		stillBlocked(t, batch, "PopBatch on an empty queue")
		offer(t, ctx, q, k, item(2))
		if r := await(t, batch, "PopBatch after a push"); r.err != nil || !slices.Equal(values(r.items), []int{2}) {
			t.Fatalf("PopBatch = %v, %v; want [2]", values(r.items), r.err)
		}
	})
}

// TestSpeedHandOff pins what sets speed apart: it stores nothing, so
// TryPush works only while a consumer waits and Push waits for a consumer.
func TestSpeedHandOff(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	q := newQueue(t, Speed, 8)
	if q.Len() != 0 || q.Cap() != 0 {
		t.Fatalf("Len, Cap = %d, %d; want 0, 0", q.Len(), q.Cap())
	}
	if err := q.TryPush(item(1)); !errors.Is(err, ErrFull) {
		t.Fatalf("TryPush with no consumer = %v, want ErrFull", err)
	}
	done := goPush(ctx, q, item(2))
	stillBlocked(t, done, "Push with no consumer")
	if got := q.Len(); got != 0 {
		t.Fatalf("Len() = %d with a Push blocked, want 0", got)
	}
	if got := value(mustPop(t, ctx, q)); got != 2 {
		t.Fatalf("Pop = %d, want 2", got)
	}
	if err := await(t, done, "Push after a consumer took it"); err != nil {
		t.Fatalf("Push: %v", err)
	}

	pop := goPop(ctx, q)
	// TryPush can only succeed once the consumer is parked in Pop, which
	// nothing signals; retry until it is, within the deadline.
	for deadline := time.Now().Add(eventWait); ; runtime.Gosched() {
		err := q.TryPush(item(3))
		if err == nil {
			break
		}
		if !errors.Is(err, ErrFull) || time.Now().After(deadline) {
			t.Fatalf("TryPush with a consumer waiting: %v", err)
		}
	}
	if r := await(t, pop, "Pop fed by TryPush"); r.err != nil || value(r.it) != 3 {
		t.Fatalf("Pop = %v, %v; want 3", r.it.Value, r.err)
	}
}

// TestSPSCOrder checks that one producer's items reach one consumer in
// push order; with equal priorities that holds for every kind.
func TestSPSCOrder(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		for _, batch := range []int{1, 7} {
			ctx := testCtx(t)
			q := newQueue(t, k, 16)
			const n = 1000
			pushed := make(chan error, 1)
			go func() {
				for i := range n {
					if err := q.Push(ctx, Item{Value: i, Priority: 5}); err != nil {
						pushed <- err
						return
					}
				}
				pushed <- nil
			}()
			dst := make([]Item, batch)
			for want := 0; want < n; {
				got, err := q.PopBatch(ctx, dst)
				if err != nil {
					t.Fatalf("batch %d: PopBatch after %d items: %v", batch, want, err)
				}
				for _, it := range dst[:got] {
					if value(it) != want {
						t.Fatalf("batch %d: popped %v, want %d", batch, it.Value, want)
					}
					want++
				}
			}
			if err := await(t, pushed, "producer"); err != nil {
				t.Fatalf("batch %d: Push: %v", batch, err)
			}
		}
	})
}

func TestPriorityOrder(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	q := newQueue(t, Priority, 16)
	prios := []uint32{1, 3, 2, 3, 1, 0, 2, 3, 0}
	for i, p := range prios {
		mustTryPush(t, q, Item{Value: i, Priority: p})
	}
	// Higher priority first, arrival order among equals.
	want := []int{1, 3, 7, 2, 6, 0, 4, 5, 8}
	var got []int
	for range prios {
		got = append(got, value(mustPop(t, ctx, q)))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
}

// TestSequentialModel drives each buffered kind with a random single
// goroutine mix of operations, comparing every result and Len with a plain
// slice: FIFO for most kinds, highest priority then oldest for priority.
func TestSequentialModel(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		if !buffered(k) {
			t.Skip("speed stores nothing; TestSpeedHandOff covers it")
		}
		const capacity = 8
		ctx := testCtx(t)
		q := newQueue(t, k, capacity)
		rng := rand.New(rand.NewPCG(1, 2))
		var model []Item
		take := func() Item {
			i := 0
			if k == Priority {
				for j := range model {
					if model[j].Priority > model[i].Priority {
						i = j
					}
				}
			}
			it := model[i]
			model = slices.Delete(model, i, i+1)
			return it
		}
		next := 0
		for step := range 4000 {
			switch op := rng.IntN(4); {
			case op < 2:
				it := Item{Value: next, Priority: rng.Uint32N(4)}
				var err error
				if op == 0 || len(model) == capacity {
					err = q.TryPush(it)
				} else {
					err = q.Push(ctx, it)
				}
				switch {
				case len(model) == capacity && !errors.Is(err, ErrFull):
					t.Fatalf("step %d: push into a full queue = %v, want ErrFull", step, err)
				case len(model) < capacity && err != nil:
					t.Fatalf("step %d: push with %d of %d queued: %v", step, len(model), capacity, err)
				case err == nil:
					model = append(model, it)
					next++
				}
			case len(model) == 0:
				continue
			case op == 2:
				got, want := mustPop(t, ctx, q), take()
				if got != want {
					t.Fatalf("step %d: Pop = %+v, want %+v", step, got, want)
				}
			default:
				dst := make([]Item, 1+rng.IntN(5))
				n, err := q.PopBatch(ctx, dst)
				if err != nil {
					t.Fatalf("step %d: PopBatch: %v", step, err)
				}
				// Up to len(dst), but with nothing running concurrently
				// every queued item is ready, so a short batch is a bug.
				if want := min(len(dst), len(model)); n != want {
					t.Fatalf("step %d: PopBatch took %d items with %d queued and room for %d", step, n, len(model), len(dst))
				}
				for i, got := range dst[:n] {
					if want := take(); got != want {
						t.Fatalf("step %d: PopBatch item %d = %+v, want %+v", step, i, got, want)
					}
				}
			}
			if got := q.Len(); got != len(model) {
				t.Fatalf("step %d: Len() = %d, want %d", step, got, len(model))
			}
		}
	})
}

func TestPopBatch(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		ctx := testCtx(t)
		q := newQueue(t, k, 16)
		if !buffered(k) {
			// Speed has only what producers are offering right now.
			a, b := goPush(ctx, q, item(1)), goPush(ctx, q, item(2))
			r := await(t, goPopBatch(ctx, q, 8), "PopBatch")
			if r.err != nil || len(r.items) < 1 || len(r.items) > 2 {
				t.Fatalf("PopBatch = %v, %v; want 1 or 2 items", values(r.items), r.err)
			}
			got := values(r.items)
			if len(got) == 1 {
				got = append(got, value(mustPop(t, ctx, q)))
			}
			slices.Sort(got)
			if !slices.Equal(got, []int{1, 2}) {
				t.Fatalf("consumers got %v, want 1 and 2", got)
			}
			if err := errors.Join(await(t, a, "Push 1"), await(t, b, "Push 2")); err != nil {
				t.Fatalf("Push: %v", err)
			}
			return
		}
		for i := range 10 {
			mustTryPush(t, q, item(i))
		}
		dst := make([]Item, 4)
		if n, err := q.PopBatch(ctx, dst); err != nil || !slices.Equal(values(dst[:n]), []int{0, 1, 2, 3}) {
			t.Fatalf("PopBatch(4) = %v, %v; want [0 1 2 3]", values(dst[:n]), err)
		}
		dst = make([]Item, 100)
		if n, err := q.PopBatch(ctx, dst); err != nil || !slices.Equal(values(dst[:n]), []int{4, 5, 6, 7, 8, 9}) {
			t.Fatalf("PopBatch(100) = %v, %v; want [4 5 6 7 8 9]", values(dst[:n]), err)
		}
		if got := q.Len(); got != 0 {
			t.Fatalf("Len() = %d after draining", got)
		}
	})
}

func TestCloseDrains(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		ctx := testCtx(t)
		q := newQueue(t, k, 8)
		var want []int
		if buffered(k) {
			want = []int{0, 1, 2}
			for _, v := range want {
				mustTryPush(t, q, item(v))
			}
		}
		q.Close()
		if err := q.Push(ctx, item(9)); !errors.Is(err, ErrClosed) {
			t.Errorf("Push after Close = %v, want ErrClosed", err)
		}
		if err := q.TryPush(item(9)); !errors.Is(err, ErrClosed) {
			t.Errorf("TryPush after Close = %v, want ErrClosed", err)
		}
		if got := q.Len(); got != len(want) {
			t.Errorf("Len() after Close = %d, want %d", got, len(want))
		}
		var got []int
		if len(want) > 0 {
			got = append(got, value(mustPop(t, ctx, q)))
			dst := make([]Item, 10)
			n, err := q.PopBatch(ctx, dst)
			if err != nil {
				t.Fatalf("PopBatch draining a closed queue: %v", err)
			}
			got = append(got, values(dst[:n])...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("drained %v, want %v", got, want)
		}
		if _, err := q.Pop(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Pop on closed and drained = %v, want ErrClosed", err)
		}
		if n, err := q.PopBatch(ctx, make([]Item, 4)); n != 0 || !errors.Is(err, ErrClosed) {
			t.Errorf("PopBatch on closed and drained = %d, %v; want 0, ErrClosed", n, err)
		}
		q.Close()
	})
}

func TestCloseWakesPop(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		ctx := testCtx(t)
		q := newQueue(t, k, 4)
		pops := []<-chan popResult{goPop(ctx, q), goPop(ctx, q)}
		batches := []<-chan batchResult{goPopBatch(ctx, q, 4), goPopBatch(ctx, q, 4)}
		stillBlocked(t, pops[0], "Pop on an empty queue")
		q.Close()
		for _, ch := range pops {
			if r := await(t, ch, "Pop after Close"); !errors.Is(r.err, ErrClosed) {
				t.Errorf("blocked Pop after Close = %v, want ErrClosed", r.err)
			}
		}
		for _, ch := range batches {
			if r := await(t, ch, "PopBatch after Close"); len(r.items) != 0 || !errors.Is(r.err, ErrClosed) {
				t.Errorf("blocked PopBatch after Close = %d items, %v; want 0, ErrClosed", len(r.items), r.err)
			}
		}
	})
}

func TestCloseWakesPush(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		ctx := testCtx(t)
		q := newQueue(t, k, 2)
		var want []int
		for i := range q.Cap() {
			mustTryPush(t, q, item(i))
			want = append(want, i)
		}
		pushes := []<-chan error{goPush(ctx, q, item(100)), goPush(ctx, q, item(101)), goPush(ctx, q, item(102))}
		stillBlocked(t, pushes[0], "Push into a full queue")
		q.Close()
		for _, ch := range pushes {
			if err := await(t, ch, "Push after Close"); !errors.Is(err, ErrClosed) {
				t.Errorf("blocked Push after Close = %v, want ErrClosed", err)
			}
		}
		// The refused items must not have slipped in.
		var got []int
		for {
			it, err := q.Pop(ctx)
			if errors.Is(err, ErrClosed) {
				break
			}
			if err != nil {
				t.Fatalf("Pop draining: %v", err)
			}
			got = append(got, value(it))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("drained %v, want %v", got, want)
		}
	})
}

// TestCloseConcurrent closes from many goroutines while others push and
// pop, for -race and for a panic on a second close.
func TestCloseConcurrent(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		ctx := testCtx(t)
		q := newQueue(t, k, 4)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				for j := 0; ; j++ {
					if err := q.Push(ctx, item(i*1000+j)); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Push: %v", err)
						}
						return
					}
				}
			})
			wg.Go(func() {
				for {
					if _, err := q.Pop(ctx); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Pop: %v", err)
						}
						return
					}
				}
			})
			wg.Go(q.Close)
		}
		wg.Wait()
	})
}

func TestCancelPush(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		ctx := testCtx(t)
		q := newQueue(t, k, 2)
		var want []int
		for i := range q.Cap() {
			mustTryPush(t, q, item(i))
			want = append(want, i)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := goPush(cctx, q, item(100))
		stillBlocked(t, done, "Push into a full queue")
		cancel()
		if err := await(t, done, "Push after cancel"); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Push = %v, want context.Canceled", err)
		}
		dctx, dcancel := context.WithTimeout(ctx, blockCheck)
		defer dcancel()
		if err := q.Push(dctx, item(101)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Push past its deadline = %v, want context.DeadlineExceeded", err)
		}
		if got := q.Len(); got != len(want) {
			t.Fatalf("Len() = %d after cancelled pushes, want %d", got, len(want))
		}
		// The queue still works and the cancelled items never got in.
		done = goPush(ctx, q, item(102))
		want = append(want, 102)
		var got []int
		for len(got) < len(want) {
			got = append(got, value(mustPop(t, ctx, q)))
		}
		if err := await(t, done, "Push after cancelled pushes"); err != nil {
			t.Fatalf("Push after cancelled pushes: %v", err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("popped %v, want %v", got, want)
		}
	})
}

// TestCancelPop also checks for lost wake-ups: consumers that gave up must
// not swallow the wake-up meant for one still waiting.
func TestCancelPop(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		ctx := testCtx(t)
		q := newQueue(t, k, 4)
		for round := range 20 {
			cctx, cancel := context.WithCancel(ctx)
			pop, batch := goPop(cctx, q), goPopBatch(cctx, q, 4)
			if round == 0 {
				stillBlocked(t, pop, "Pop on an empty queue")
			}
			cancel()
			if r := await(t, pop, "Pop after cancel"); !errors.Is(r.err, context.Canceled) {
				t.Fatalf("round %d: cancelled Pop = %+v, %v; want context.Canceled", round, r.it, r.err)
			}
			if r := await(t, batch, "PopBatch after cancel"); len(r.items) != 0 || !errors.Is(r.err, context.Canceled) {
				t.Fatalf("round %d: cancelled PopBatch = %v, %v; want 0 items, context.Canceled", round, values(r.items), r.err)
			}
			live := goPop(ctx, q)
			if round%2 == 0 {
				stillBlocked(t, live, "Pop on an empty queue")
			}
			offer(t, ctx, q, k, item(round))
			if r := await(t, live, "Pop after cancelled waiters"); r.err != nil || value(r.it) != round {
				t.Fatalf("round %d: Pop after cancelled waiters = %v, %v", round, r.it.Value, r.err)
			}
		}
		dctx, dcancel := context.WithTimeout(ctx, blockCheck)
		defer dcancel()
		if _, err := q.Pop(dctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pop past its deadline = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestMPMC(t *testing.T) {
	forEachKind(t, func(t *testing.T, k Kind) {
		for _, p := range []int{1, 4, 16} {
			for _, c := range []int{1, 4, 16} {
				t.Run(fmt.Sprintf("prod=%d/cons=%d", p, c), func(t *testing.T) {
					checkMPMC(t, newQueue(t, k, 4), mpmcConfig{producers: p, consumers: c, items: 2000})
				})
			}
		}
		t.Run("cap=1", func(t *testing.T) {
			checkMPMC(t, newQueue(t, k, 1), mpmcConfig{producers: 4, consumers: 4, items: 2000})
		})
		t.Run("priorities", func(t *testing.T) {
			checkMPMC(t, newQueue(t, k, 4), mpmcConfig{producers: 4, consumers: 4, items: 4000, priorities: true})
		})
		t.Run("cancel", func(t *testing.T) {
			checkMPMC(t, newQueue(t, k, 4), mpmcConfig{producers: 4, consumers: 4, items: 4000, cancel: true})
		})
	})
}

// tb is the part of testing.TB that checkMPMC uses, so that a test can run
// it against a recorder and prove it catches a broken queue.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
}

type mpmcConfig struct {
	producers, consumers, items int
	// priorities gives items one of four priorities instead of all 0.
	priorities bool
	// cancel gives most blocking calls a context that expires within
	// microseconds and retries them, racing cancellation with hand-off:
	// a call that returns a context error must not have moved its item.
	cancel bool
}

// mpmcPriority scatters ids over four priorities, deterministically so that
// a consumer can check an item kept its priority.
func mpmcPriority(id int) uint32 { return uint32(id) * 2654435761 >> 30 }

// checkMPMC pushes the ids 0..items-1 from cfg.producers goroutines
// (producer p pushes p, p+P, p+2P, ... with TryPush or Push), pops them
// from cfg.consumers goroutines (Pop or PopBatch), closes q once every push
// returned, and lets the consumers drain it. Then the count, the sum and a
// seen-bitmap prove no item was lost or duplicated, and each consumer must
// have seen each producer's items of one priority in push order, which
// every kind owes (priority orders equal priorities FIFO).
func checkMPMC(t tb, q Queue, cfg mpmcConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*eventWait)
	defer cancel()
	prio := func(id int) uint32 {
		if cfg.priorities {
			return mpmcPriority(id)
		}
		return 0
	}
	// retry repeats call with short-lived contexts while they expire.
	retry := func(rng *rand.Rand, call func(context.Context) error) error {
		if !cfg.cancel || rng.IntN(4) == 0 {
			return call(ctx)
		}
		for {
			sctx, scancel := context.WithTimeout(ctx, time.Duration(rng.IntN(50))*time.Microsecond)
			err := call(sctx)
			scancel()
			if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				return err
			}
		}
	}

	var producers sync.WaitGroup
	for p := range cfg.producers {
		producers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 1))
			for id := p; id < cfg.items; id += cfg.producers {
				it := Item{Value: id, Priority: prio(id)}
				err := ErrFull
				if rng.IntN(2) == 0 {
					err = q.TryPush(it)
				}
				if errors.Is(err, ErrFull) {
					err = retry(rng, func(ctx context.Context) error { return q.Push(ctx, it) })
				}
				if err != nil {
					t.Errorf("producer %d: push %d: %v", p, id, err)
					return
				}
			}
		})
	}

	got := make([][]int, cfg.consumers)
	var consumers sync.WaitGroup
	for c := range cfg.consumers {
		consumers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 2))
			// last[p*4+prio] is the last id seen from producer p at prio.
			last := make([]int, cfg.producers*4)
			for i := range last {
				last[i] = -1
			}
			dst := make([]Item, 2+c%7)
			var disorder int
			for {
				var n int
				batch := rng.IntN(2) == 0
				err := retry(rng, func(ctx context.Context) error {
					var err error
					if batch {
						n, err = q.PopBatch(ctx, dst)
					} else {
						dst[0], err = q.Pop(ctx)
						n = 1
					}
					return err
				})
				if errors.Is(err, ErrClosed) {
					break
				}
				if err != nil {
					t.Errorf("consumer %d: pop: %v", c, err)
					break
				}
				if n < 1 || n > len(dst) {
					t.Errorf("consumer %d: PopBatch with room for %d returned %d items and no error", c, len(dst), n)
					break
				}
				for _, it := range dst[:n] {
					id := value(it)
					if id < 0 || id >= cfg.items || it.Priority != prio(id) {
						t.Errorf("consumer %d: popped a corrupt item %+v", c, it)
						continue
					}
					got[c] = append(got[c], id)
					key := (id%cfg.producers)*4 + int(it.Priority)
					if id < last[key] {
						if disorder == 0 {
							t.Errorf("consumer %d: popped %d after %d, both from producer %d at priority %d", c, id, last[key], id%cfg.producers, it.Priority)
						}
						disorder++
					}
					last[key] = id
				}
			}
			if disorder > 1 {
				t.Errorf("consumer %d: %d items out of push order", c, disorder)
			}
		})
	}

	// Every call has a deadline, so only a queue that ignores its context
	// (a deadlock, a livelock) can get past this. Then the test's cleanup
	// would hang in Close too, so crash the binary from a goroutine of its
	// own, which the testing package cannot recover, with every stack.
	done := make(chan struct{})
	go func() {
		producers.Wait()
		q.Close()
		consumers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(4 * eventWait):
		debug.SetTraceback("all")
		go panic(fmt.Sprintf("checkMPMC on %T %+v: stuck %v past every deadline", q, cfg, eventWait))
		select {}
	}
	if ctx.Err() != nil {
		t.Errorf("not done within %v", 3*eventWait)
	}

	seen := make([]bool, cfg.items)
	var count, sum int
	var missing, dups []int
	for _, ids := range got {
		for _, id := range ids {
			count++
			sum += id
			if seen[id] {
				dups = append(dups, id)
			}
			seen[id] = true
		}
	}
	for id, ok := range seen {
		if !ok {
			missing = append(missing, id)
		}
	}
	if want := cfg.items * (cfg.items - 1) / 2; count != cfg.items || sum != want {
		t.Errorf("popped %d items summing to %d, want %d summing to %d", count, sum, cfg.items, want)
	}
	if len(missing) > 0 {
		t.Errorf("%d items lost, first %v", len(missing), missing[:min(len(missing), 5)])
	}
	if len(dups) > 0 {
		t.Errorf("%d items popped twice, first %v", len(dups), dups[:min(len(dups), 5)])
	}
}

// recorder is a tb that keeps failures instead of failing.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

// faultyQueue wraps a real queue and breaks the contract on every 1000th
// push or pop in the way fault names.
type faultyQueue struct {
	Queue
	fault  string // "drop", "duplicate" or "reorder"
	pushes atomic.Int64
	mu     sync.Mutex
	pops   int
	held   *Item // returned by the next Pop before anything else
}

func (f *faultyQueue) dropped() bool {
	return f.fault == "drop" && f.pushes.Add(1)%1000 == 0
}

func (f *faultyQueue) Push(ctx context.Context, it Item) error {
	if f.dropped() {
		return nil
	}
	return f.Queue.Push(ctx, it)
}

func (f *faultyQueue) TryPush(it Item) error {
	if f.dropped() {
		return nil
	}
	return f.Queue.TryPush(it)
}

func (f *faultyQueue) Pop(ctx context.Context) (Item, error) {
	f.mu.Lock()
	if held := f.held; held != nil {
		f.held = nil
		f.mu.Unlock()
		return *held, nil
	}
	f.pops++
	hit := f.pops%1000 == 0
	f.mu.Unlock()
	it, err := f.Queue.Pop(ctx)
	if err != nil || !hit {
		return it, err
	}
	switch f.fault {
	case "duplicate":
		f.mu.Lock()
		f.held = &it
		f.mu.Unlock()
	case "reorder":
		next, err := f.Queue.Pop(ctx)
		if err != nil {
			return it, nil
		}
		f.mu.Lock()
		f.held = &it
		f.mu.Unlock()
		return next, nil
	}
	return it, nil
}

func (f *faultyQueue) PopBatch(ctx context.Context, dst []Item) (int, error) {
	it, err := f.Pop(ctx)
	if err != nil {
		return 0, err
	}
	dst[0] = it
	return 1, nil
}

// TestCheckMPMCCatchesFaults proves the MPMC check can fail: queues that
// lose, duplicate or reorder one item in a thousand must not pass it.
func TestCheckMPMCCatchesFaults(t *testing.T) {
	for _, tc := range []struct {
		fault string
		cfg   mpmcConfig
	}{
		{"drop", mpmcConfig{producers: 4, consumers: 4, items: 3000}},
		{"duplicate", mpmcConfig{producers: 4, consumers: 4, items: 3000}},
		{"reorder", mpmcConfig{producers: 1, consumers: 1, items: 3000}},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			t.Parallel()
			var rec recorder
			checkMPMC(&rec, &faultyQueue{Queue: newQueue(t, FIFO, 4), fault: tc.fault}, tc.cfg)
			if len(rec.msgs) == 0 {
				t.Fatalf("checkMPMC passed a queue with fault %q", tc.fault)
			}
			t.Logf("caught: %v", rec.msgs)
		})
	}
}
