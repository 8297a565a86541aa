package queue

// newSpeed is the speed kind: an unbuffered hand-off from producer to
// consumer with no storage at all, the fifo kind's channel with capacity 0.
// It measures the cost of the rendezvous alone and exists for benchmarking
// only: a producer blocks until a consumer takes its item (TryPush succeeds
// only when a consumer is already waiting in Pop), so the queue manager
// cannot absorb a burst with it. Len and Cap are always 0.
func newSpeed(Options) Queue {
	return &chanQueue{ch: make(chan Item), done: make(chan struct{})}
}
