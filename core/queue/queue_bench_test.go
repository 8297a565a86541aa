package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// benchCapacity is the bound of every benchmarked queue (speed has none).
const benchCapacity = 1024

// benchVals backs Item.Value in benchmarks. Storing a pointer in an
// interface does not allocate, so allocs/op shows the queue's own
// allocations; each pointee equals its index, which feeds the checksum.
var benchVals = func() *[1 << 12]int {
	var v [1 << 12]int
	for i := range v {
		v[i] = i
	}
	return &v
}()

const benchMask = len(benchVals) - 1

// chanRaw is the reference the kinds are read against: a bare buffered
// channel of Items, with no context, close handshake or bookkeeping. It
// sits behind the Queue interface only so that one helper drives every
// implementation with the same call overhead. Close is not idempotent and
// a Push after it panics; the benchmarks never do either.
type chanRaw chan Item

func (c chanRaw) Push(_ context.Context, it Item) error {
	c <- it
	return nil
}

func (c chanRaw) TryPush(it Item) error {
	select {
	case c <- it:
		return nil
	default:
		return ErrFull
	}
}

func (c chanRaw) Pop(context.Context) (Item, error) {
	it, ok := <-c
	if !ok {
		return Item{}, ErrClosed
	}
	return it, nil
}

// PopBatch receives the first item blocking, then the rest non-blocking.
func (c chanRaw) PopBatch(_ context.Context, dst []Item) (int, error) {
	it, ok := <-c
	if !ok {
		return 0, ErrClosed
	}
	dst[0] = it
	for n := 1; n < len(dst); n++ {
		select {
		case it, ok := <-c:
			if !ok {
				return n, nil
			}
			dst[n] = it
		default:
			return n, nil
		}
	}
	return len(dst), nil
}

func (c chanRaw) Len() int { return len(c) }
func (c chanRaw) Cap() int { return cap(c) }
func (c chanRaw) Close()   { close(c) }

type benchImpl struct {
	name string
	new  func(b *testing.B) Queue
}

// benchImpls is every kind plus chanraw, named for key=value segments.
func benchImpls() []benchImpl {
	var impls []benchImpl
	for _, k := range Kinds() {
		impls = append(impls, benchImpl{string(k), func(b *testing.B) Queue {
			q, err := New(k, Options{Capacity: benchCapacity})
			if err != nil {
				b.Fatal(err)
			}
			return q
		}})
	}
	impls = append(impls, benchImpl{"chanraw", func(*testing.B) Queue { return make(chanRaw, benchCapacity) }})
	for _, im := range impls {
		// "-" would read as the GOMAXPROCS suffix, "/" and " " as segments.
		if strings.ContainsAny(im.name, "-/ =") {
			panic("queue: benchmark impl name " + im.name + " breaks key=value names")
		}
	}
	return impls
}

// BenchmarkQueue pushes b.N items through each kind (and a raw buffered
// channel, chanraw) of capacity 1024: prod producers share the items and
// Push them one at a time; cons consumers Pop (batch=1) or PopBatch into a
// buffer of batch items. ns/op is per item, end to end.
//
// Reproduce:
//
//	go test -run '^$' -bench 'BenchmarkQueue/' -count 10 ./core/queue
func BenchmarkQueue(b *testing.B) {
	for _, im := range benchImpls() {
		for _, prod := range []int{1, 4, 16} {
			for _, cons := range []int{1, 4, 16} {
				for _, batch := range []int{1, 64} {
					name := fmt.Sprintf("impl=%s/prod=%d/cons=%d/batch=%d", im.name, prod, cons, batch)
					b.Run(name, func(b *testing.B) { benchQueue(b, im.new(b), prod, cons, batch) })
				}
			}
		}
	}
}

func benchQueue(b *testing.B, q Queue, prod, cons, batch int) {
	ctx := context.Background()
	n := b.N
	var count, sum atomic.Int64
	var producers, consumers sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for range cons {
		consumers.Go(func() {
			dst := make([]Item, batch)
			var c, s int64
			for {
				var k int
				var err error
				if batch == 1 {
					dst[0], err = q.Pop(ctx)
					k = 1
				} else {
					k, err = q.PopBatch(ctx, dst)
				}
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						b.Errorf("pop: %v", err)
					}
					break
				}
				for _, it := range dst[:k] {
					s += int64(*it.Value.(*int))
				}
				c += int64(k)
			}
			count.Add(c)
			sum.Add(s)
		})
	}
	for p := range prod {
		producers.Go(func() {
			for i := p; i < n; i += prod {
				if err := q.Push(ctx, Item{Value: &benchVals[i&benchMask]}); err != nil {
					b.Errorf("push: %v", err)
					return
				}
			}
		})
	}
	producers.Wait()
	q.Close()
	consumers.Wait()
	b.StopTimer()

	if got, want := count.Load(), int64(n); got != want {
		b.Fatalf("popped %d items, pushed %d", got, want)
	}
	if got, want := sum.Load(), benchSum(n); got != want {
		b.Fatalf("checksum %d, want %d", got, want)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
}

// benchSum is the checksum of the first n items: the sum of i&benchMask.
func benchSum(n int) int64 {
	const m = int64(benchMask) + 1
	full, rest := int64(n)/m, int64(n)%m
	return full*(m*(m-1)/2) + rest*(rest-1)/2
}
