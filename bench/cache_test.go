package bench

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/core/stats"
	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// cacheSizes are the payload sizes of BenchmarkCache, by name.
var cacheSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"1MiB", 1 << 20}, {"16MiB", 16 << 20}}

// cacheKinds are the calls BenchmarkCache times; see CacheSystem. Echo and
// raw come first: each run measures what gRPC allows next to the caches.
var cacheKinds = []string{"echo", "raw", "nodehit", "nodemiss", "central"}

// BenchmarkCache times one GetSharedData at a time (one call in flight,
// loopback TCP) of a 1 KiB, 1 MiB or 16 MiB payload:
//
//	kind=echo      raw unary gRPC echo: the payload goes both ways
//	kind=raw       raw unary gRPC: small request, prebuilt payload answer
//	kind=nodehit   node cache that holds the level: answered from memory
//	kind=nodemiss  node cache with cacheSize 0, which keeps nothing: every
//	               Get is fetched from the central cache (node → central
//	               → node), as a cold node cache's first Get of a level is
//	kind=central   central cache, asked directly
//
// Latency percentiles come from an HDR histogram of every call (p50-ns,
// p99-ns); MB/s counts the payload once per call. After the timed loop it
// checks each answer's payload and that the central cache answered exactly
// the Gets it should have: none for nodehit, one per call for nodemiss and
// central. Compare the kinds with benchstat -col /kind.
//
//	go test -run '^$' -bench 'BenchmarkCache' -count 10 ./bench
func BenchmarkCache(b *testing.B) {
	sys := StartCacheSystem(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	payloads := map[string][]byte{}
	for _, sz := range cacheSizes {
		p := make([]byte, sz.size)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		payloads[sz.name] = p
		if err := sys.Put(ctx, sz.name, p); err != nil {
			b.Fatal(err)
		}
	}
	for _, kind := range cacheKinds {
		for _, sz := range cacheSizes {
			b.Run("kind="+kind+"/size="+sz.name, func(b *testing.B) {
				benchCacheGet(b, sys, kind, sz.name, payloads[sz.name])
			})
		}
	}
}

func benchCacheGet(b *testing.B, sys *CacheSystem, kind, session string, payload []byte) {
	ctx := context.Background()
	level := uint32(0)
	req := &alpcrunpb.SharedData{SessionId: session, UpdateLevel: &level}
	api := map[string]alpcrunpb.CacheClient{
		"echo": sys.Echo, "raw": sys.Raw, "nodehit": sys.Node, "nodemiss": sys.NodeCold, "central": sys.Central,
	}[kind]
	if kind == "echo" {
		req.Payload = payload
	}
	// Warm up: connections, buffers, and the node cache's copy for nodehit.
	for range 3 {
		if _, err := api.GetSharedData(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	before, err := sys.CentralGets()
	if err != nil {
		b.Fatal(err)
	}
	h := stats.NewHistogram()
	bad := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		d, err := api.GetSharedData(ctx, req)
		h.Record(time.Since(t0))
		if err != nil || len(d.Payload) != len(payload) || d.Payload[len(d.Payload)-1] != payload[len(payload)-1] {
			bad++
		}
	}
	b.StopTimer()
	after, err := sys.CentralGets()
	if err != nil {
		b.Fatal(err)
	}
	want := 0.0
	if kind == "nodemiss" || kind == "central" {
		want = float64(b.N)
	}
	if bad != 0 || h.Count() != int64(b.N) || after-before != want {
		b.Fatalf("%d of %d calls failed; %d latencies; central cache answered %v Gets, want %v", bad, b.N, h.Count(), after-before, want)
	}
	if d, err := api.GetSharedData(ctx, req); err != nil || !bytes.Equal(d.Payload, payload) {
		b.Fatalf("payload differs: %v", err)
	}
	b.ReportMetric(float64(h.Quantile(0.5)), "p50-ns")
	b.ReportMetric(float64(h.Quantile(0.99)), "p99-ns")
}

// TestCacheSystem checks what BenchmarkCache relies on: every kind answers
// with the payload Put stored, and only the node cache that keeps entries
// spares the central cache.
func TestCacheSystem(t *testing.T) {
	sys := StartCacheSystem(t)
	ctx := context.Background()
	payload := []byte("shared")
	if err := sys.Put(ctx, "s", payload); err != nil {
		t.Fatal(err)
	}
	level := uint32(0)
	for _, tc := range []struct {
		api          alpcrunpb.CacheClient
		name         string
		centralCalls float64
	}{{sys.Echo, "echo", 0}, {sys.Raw, "raw", 0}, {sys.Node, "node", 1}, {sys.NodeCold, "nodecold", 3}, {sys.Central, "central", 3}} {
		before, err := sys.CentralGets()
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			req := &alpcrunpb.SharedData{SessionId: "s", UpdateLevel: &level}
			if tc.name == "echo" {
				req.Payload = payload
			}
			d, err := tc.api.GetSharedData(ctx, req)
			if err != nil || !bytes.Equal(d.Payload, payload) {
				t.Fatalf("%s: %v, %v", tc.name, d, err)
			}
		}
		if after, _ := sys.CentralGets(); after-before != tc.centralCalls {
			t.Errorf("%s: central cache answered %v Gets, want %v", tc.name, after-before, tc.centralCalls)
		}
	}
}
