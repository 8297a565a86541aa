package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// SharedDataSize is the size of a session's shared data when Shape.Shared
// is set. Each worker's NodeCache fetches it once per run and then answers
// every batch from its decoded copy, as in a deployment; the size only
// weighs on that first fetch.
const SharedDataSize = 64 << 10

// SharedData is the shared-data path of a deployment, in this process: a
// central cache, a node cache over it (both on loopback with the cache
// tier's tuned transport), and one worker SDK NodeCache per worker.
type SharedData struct {
	central alpcrunpb.CacheClient
	node    string // the node cache's address
	// Reads counts the Gets workers made, one per batch that uses shared
	// data; Batches counts every batch they received (the queue manager
	// may split a client's batch at dispatch).
	Reads, Batches atomic.Int64
}

// StartSharedData starts a SharedData, stopped at tb's cleanup.
func StartSharedData(tb testing.TB) *SharedData {
	tb.Helper()
	centralAddr := cacheServe(tb, startCentral(tb, nil).Register)
	return &SharedData{
		central: alpcrunpb.NewCacheClient(cacheDial(tb, centralAddr)),
		node:    startNode(tb, centralAddr, true),
	}
}

// Put stores SharedDataSize bytes as session's shared data at level 0 in
// the central cache, as a client does before it sends batches that use it.
func (d *SharedData) Put(ctx context.Context, session string) error {
	_, err := d.central.SetSharedData(ctx, &alpcrunpb.SharedData{SessionId: session, Payload: payload(SharedDataSize)})
	return err
}

// NodeCache returns a worker's SharedDataSource: the worker SDK's NodeCache
// on its own connection to the node cache, closed at tb's cleanup.
func (d *SharedData) NodeCache(tb testing.TB) *worker.NodeCache {
	tb.Helper()
	nc, err := worker.NewNodeCache(d.node, worker.WithNodeCacheAPIKey(""))
	if err != nil {
		tb.Fatalf("bench: %v", err)
	}
	tb.Cleanup(func() { _ = nc.Close() })
	return nc
}

// EchoShared is Echo for batches that use shared data: before answering a
// batch that sets use_shared_data, it reads the level the batch requires
// from src, as the worker SDK does, and counts the read in d. A failed read
// or data of the wrong size fails every task of the batch.
func (d *SharedData) EchoShared(ctx context.Context, st WorkerStream, src worker.SharedDataSource, session string) error {
	return echo(st, func(b *alpcrunpb.Batch) {
		d.Batches.Add(1)
		if !b.GetUseSharedData() {
			return
		}
		d.Reads.Add(1)
		v, err := src.Get(ctx, session, b.GetRequiredSharedDataUpdateLevel())
		if err == nil {
			if p, ok := v.([]byte); !ok || len(p) != SharedDataSize {
				err = fmt.Errorf("bench: shared data is %T of %d bytes, want %d", v, len(p), SharedDataSize)
			}
		}
		if err != nil {
			for _, m := range b.Messages {
				m.Error = err.Error()
			}
		}
	})
}
