package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Sentinel errors. Services map them to gRPC codes in one table.
var (
	// ErrClosed is returned by pushes after Close, and by pops once the
	// queue is closed and drained.
	ErrClosed = errors.New("queue: closed")
	// ErrFull is returned by TryPush when the queue holds Capacity items
	// (for the speed kind: when no consumer is waiting).
	ErrFull = errors.New("queue: full")
	// ErrUnknownKind is returned by New for a kind not in Kinds().
	ErrUnknownKind = errors.New("queue: unknown kind")
)

// Item is one queued task batch. The queue never looks inside Value: the
// session layer stores its batch pointer there, and storing a pointer in an
// interface does not allocate.
type Item struct {
	Value any
	// Priority orders the priority kind (higher first); the others ignore it.
	Priority uint32
}

// Queue is a bounded multi-producer multi-consumer queue of Items.
//
// Push blocks while the queue is full until there is room, ctx is done
// (ctx.Err() is returned) or the queue is closed (ErrClosed). TryPush never
// blocks: ErrFull or ErrClosed. Pop blocks while the queue is empty until an
// item arrives, ctx is done, or the queue is closed and drained (ErrClosed).
// PopBatch blocks like Pop for the first item, then moves up to len(dst)
// items that are already queued into dst without waiting and returns how
// many. Close makes pushes fail; items already queued can still be popped.
// Close is idempotent. All methods are safe for concurrent use.
type Queue interface {
	Push(ctx context.Context, it Item) error
	TryPush(it Item) error
	Pop(ctx context.Context) (Item, error)
	PopBatch(ctx context.Context, dst []Item) (int, error)
	// Len is the number of queued items; a snapshot under concurrency.
	Len() int
	// Cap is the bound given by Options.Capacity (0 for speed).
	Cap() int
	Close()
}

// Kind names a queue implementation; it is the queueType config value.
type Kind string

// UnmarshalText accepts one of Kinds(), so that a configuration naming
// another kind is refused where it is read.
func (k *Kind) UnmarshalText(b []byte) error {
	if !slices.Contains(Kinds(), Kind(b)) {
		return fmt.Errorf("%w %q (have %v)", ErrUnknownKind, b, Kinds())
	}
	*k = Kind(b)
	return nil
}

// The queue kinds. See doc.go for their properties and costs.
const (
	Priority Kind = "priority"
	FIFO     Kind = "fifo"
	LockFree Kind = "lockfree"
	Speed    Kind = "speed"
	Mutex    Kind = "mutex"
)

// DefaultCapacity is the bufferSize default of the queue manager.
const DefaultCapacity = 1000

// Options configures a queue.
type Options struct {
	// Capacity is the most items the queue holds (bufferSize). Zero means
	// DefaultCapacity. Ignored by speed, which holds none.
	Capacity int
}

func (o Options) capacity() int {
	if o.Capacity <= 0 {
		return DefaultCapacity
	}
	return o.Capacity
}

var kinds = map[Kind]func(Options) Queue{
	Priority: newPriority,
	FIFO:     newFIFO,
	LockFree: newLockFree,
	Speed:    newSpeed,
	Mutex:    newMutex,
}

// New builds a queue of the given kind.
func New(kind Kind, opts Options) (Queue, error) {
	mk, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("%w %q (have %v)", ErrUnknownKind, kind, Kinds())
	}
	return mk(opts), nil
}

// Kinds lists every kind New accepts, sorted.
func Kinds() []Kind {
	ks := make([]Kind, 0, len(kinds))
	for k := range kinds {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
