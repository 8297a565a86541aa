package cache

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCache measures the stores without gRPC, from every P at once
// (RunParallel), with 1 KiB payloads:
//
//	op=storeget     Store.Get of the newest level, spread over sessions
//	op=storeupdate  Store.Update, spread over sessions
//	op=nodehit      Node.Get of keys it holds
//	op=nodeevict    Node.Get at capacity: keys cycle over twice what fits,
//	                so every Get fetches (an immediate Fetch) and evicts
//
//	go test -run '^$' -bench 'BenchmarkCache' -count 10 ./core/cache
func BenchmarkCache(b *testing.B) {
	for _, n := range []int{1, 1024} {
		b.Run("op=storeget/keys="+strconv.Itoa(n), func(b *testing.B) { benchStore(b, n, false) })
	}
	for _, n := range []int{1, 1024} {
		b.Run("op=storeupdate/keys="+strconv.Itoa(n), func(b *testing.B) { benchStore(b, n, true) })
	}
	for _, n := range []int{1, 1024} {
		b.Run("op=nodehit/keys="+strconv.Itoa(n), func(b *testing.B) { benchNode(b, n, int64(n)) })
	}
	b.Run("op=nodeevict/keys=2048", func(b *testing.B) { benchNode(b, 2048, 1024) })
}

const benchPayload = 1 << 10

func sessionIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "session-" + strconv.Itoa(i)
	}
	return ids
}

func benchStore(b *testing.B, keys int, update bool) {
	s := NewStore(StoreConfig{})
	ids := sessionIDs(keys)
	payload := make([]byte, benchPayload)
	for _, id := range ids {
		if _, err := s.Set(Write{Session: id, Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	var ops, failed atomic.Int64
	var next atomic.Uint32
	b.ReportAllocs()
	b.SetBytes(benchPayload)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		n := 0
		for pb.Next() {
			id := ids[i%keys]
			i++
			var err error
			if update {
				_, err = s.Update(Write{Session: id, Payload: payload})
			} else {
				_, err = s.Get(id, nil)
			}
			if err != nil {
				failed.Add(1)
			}
			n++
		}
		ops.Add(int64(n))
	})
	b.StopTimer()
	if ops.Load() != int64(b.N) || failed.Load() != 0 {
		b.Fatalf("%d ops of %d, %d failed", ops.Load(), b.N, failed.Load())
	}
}

// benchNode reads keys sessions from a Node that fits fits of them.
func benchNode(b *testing.B, keys int, fits int64) {
	ids := sessionIDs(keys)
	payload := make([]byte, benchPayload)
	var fetches atomic.Int64
	exp := time.Now().Add(time.Hour)
	n := NewNode(NodeConfig{
		Capacity: fits * (benchPayload + int64(len(ids[len(ids)-1])) + Overhead),
		Fetch: func(_ context.Context, k Key) (Entry, error) {
			fetches.Add(1)
			return Entry{Level: k.Level, Payload: payload, Expires: exp}, nil
		},
	})
	ctx := context.Background()
	for _, id := range ids {
		if _, _, err := n.Get(ctx, Key{Session: id}); err != nil {
			b.Fatal(err)
		}
	}
	fetches.Store(0)
	var ops, hits, failed atomic.Int64
	var next atomic.Uint32
	b.ReportAllocs()
	b.SetBytes(benchPayload)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		var o, h int64
		for pb.Next() {
			_, hit, err := n.Get(ctx, Key{Session: ids[i%keys]})
			i++
			if err != nil {
				failed.Add(1)
			}
			if hit {
				h++
			}
			o++
		}
		ops.Add(o)
		hits.Add(h)
	})
	b.StopTimer()
	if ops.Load() != int64(b.N) || failed.Load() != 0 || hits.Load()+fetches.Load() > int64(b.N) {
		b.Fatalf("%d ops of %d, %d failed, %d hits, %d fetches", ops.Load(), b.N, failed.Load(), hits.Load(), fetches.Load())
	}
	if entries, _ := n.Stats(); int64(entries) > fits {
		b.Fatalf("%d entries held, %d fit", entries, fits)
	}
	b.ReportMetric(float64(hits.Load())/float64(b.N), "hits/op")
}
