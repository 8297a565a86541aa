package nodecache

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/alpcrun/alpcrun/core/cache"
	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// TestCodes walks the proto comments' paths through a node cache: local
// checks, forwarded writes, and the central cache's answers passed on.
func TestCodes(t *testing.T) {
	p := startPair(t, Options{CacheSize: 1 << 20, MaxPayload: 1 << 10})
	ctx := servicetest.Context(t)
	n := p.nodeAPI

	st, err := n.SetSharedData(ctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(2), Payload: []byte("v2")})
	if err != nil || st.UpdateLevel != 2 {
		t.Fatalf("Set through the node = %v, %v", st, err)
	}
	_, err = n.SetSharedData(ctx, &pb.SharedData{SessionId: "s", Payload: []byte("x")})
	servicetest.WantCode(t, err, codes.AlreadyExists)
	if got := p.get(t, ctx, "s", 2); got != "v2" {
		t.Fatalf("Get = %q", got)
	}
	_, err = n.GetSharedData(ctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(1)})
	servicetest.WantCode(t, err, codes.FailedPrecondition)
	_, err = n.GetSharedData(ctx, &pb.SharedData{SessionId: "nope", UpdateLevel: level(1)})
	servicetest.WantCode(t, err, codes.NotFound)
	_, err = n.GetSharedData(ctx, &pb.SharedData{SessionId: "nope"})
	servicetest.WantCode(t, err, codes.NotFound)

	st, err = n.UpdateSharedData(ctx, &pb.SharedData{SessionId: "s", Payload: []byte("v3")})
	if err != nil || st.UpdateLevel != 3 {
		t.Fatalf("Update through the node = %v, %v", st, err)
	}
	_, err = n.UpdateSharedData(ctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(3), Payload: []byte("x")})
	servicetest.WantCode(t, err, codes.FailedPrecondition)
	_, err = n.UpdateSharedData(ctx, &pb.SharedData{SessionId: "nope", Payload: []byte("x")})
	servicetest.WantCode(t, err, codes.NotFound)
	// Without a level, Get asks the central cache for the newest.
	d, err := n.GetSharedData(ctx, &pb.SharedData{SessionId: "s"})
	if err != nil || d.GetUpdateLevel() != 3 || string(d.Payload) != "v3" {
		t.Fatalf("Get newest = %v, %v", d, err)
	}

	if _, err := n.DeleteSharedData(ctx, &pb.SharedData{SessionId: "s"}); err != nil {
		t.Fatal(err)
	}
	_, err = n.DeleteSharedData(ctx, &pb.SharedData{SessionId: "s"})
	servicetest.WantCode(t, err, codes.NotFound)
	_, err = n.GetSharedData(ctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(3)})
	servicetest.WantCode(t, err, codes.NotFound)

	// Refused by the node itself: the central cache (maxPayload 64 MiB)
	// would have taken the payload.
	big := make([]byte, 1<<10+1)
	before := p.centralGets(t)
	for _, id := range []string{"", strings.Repeat("x", cache.MaxSessionID+1)} {
		_, err = n.SetSharedData(ctx, &pb.SharedData{SessionId: id})
		servicetest.WantCode(t, err, codes.InvalidArgument)
		_, err = n.UpdateSharedData(ctx, &pb.SharedData{SessionId: id})
		servicetest.WantCode(t, err, codes.InvalidArgument)
		_, err = n.GetSharedData(ctx, &pb.SharedData{SessionId: id})
		servicetest.WantCode(t, err, codes.InvalidArgument)
		_, err = n.DeleteSharedData(ctx, &pb.SharedData{SessionId: id})
		servicetest.WantCode(t, err, codes.InvalidArgument)
	}
	_, err = n.SetSharedData(ctx, &pb.SharedData{SessionId: "big", Payload: big})
	servicetest.WantCode(t, err, codes.InvalidArgument)
	_, err = n.SetSharedData(ctx, &pb.SharedData{SessionId: "neg", Ttl: durationpb.New(-time.Second)})
	servicetest.WantCode(t, err, codes.InvalidArgument)
	if got := p.centralGets(t); got != before {
		t.Fatalf("invalid requests reached the central cache (%v Gets, was %v)", got, before)
	}
	_, err = p.central.GetSharedData(ctx, &pb.SharedData{SessionId: "big"})
	servicetest.WantCode(t, err, codes.NotFound)
}

// TestNewLevelAfterCentralUpdate: an update made at the central cache
// directly is served by the node as soon as a batch asks for its level.
func TestNewLevelAfterCentralUpdate(t *testing.T) {
	p := startPair(t, Options{CacheSize: 1 << 20})
	ctx := servicetest.Context(t)
	if _, err := p.central.SetSharedData(ctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(1), Payload: []byte("one")}); err != nil {
		t.Fatal(err)
	}
	p.get(t, ctx, "s", 1)
	if got := p.get(t, ctx, "s", 1); got != "one" {
		t.Fatalf("Get(1) = %q", got)
	}
	if hit, miss := counter(t, p.nodeReg, "hit"), counter(t, p.nodeReg, "miss"); hit != 1 || miss != 1 {
		t.Fatalf("node: %v hits, %v misses; want 1, 1", hit, miss)
	}
	if _, err := p.central.UpdateSharedData(ctx, &pb.SharedData{SessionId: "s", Payload: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	if got := p.get(t, ctx, "s", 2); got != "two" {
		t.Fatalf("Get(2) after the central update = %q", got)
	}
	if got := p.centralGets(t); got != 2 {
		t.Fatalf("%v central Gets, want 2", got)
	}
}

// TestWritesThroughNodeDropStaleLevels: a Set at a level the node holds,
// after a Delete through the node, is not answered from the old copy.
func TestWritesThroughNodeDropStaleLevels(t *testing.T) {
	p := startPair(t, Options{CacheSize: 1 << 20})
	ctx := servicetest.Context(t)
	for i, payload := range []string{"old", "new"} {
		if _, err := p.nodeAPI.SetSharedData(ctx, &pb.SharedData{SessionId: "s", Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
		if got := p.get(t, ctx, "s", 0); got != payload {
			t.Fatalf("round %d: Get = %q, want %q", i, got, payload)
		}
		if _, err := p.nodeAPI.DeleteSharedData(ctx, &pb.SharedData{SessionId: "s"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentColdGets: 200 Gets of one key at once on a cold node cache
// make one request to the central cache.
func TestConcurrentColdGets(t *testing.T) {
	p := startPair(t, Options{CacheSize: 1 << 20})
	ctx := servicetest.Context(t)
	payload := bytes.Repeat([]byte("x"), 64<<10)
	if _, err := p.central.SetSharedData(ctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(7), Payload: payload}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			d, err := p.nodeAPI.GetSharedData(ctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(7)})
			if err != nil || !bytes.Equal(d.Payload, payload) {
				t.Errorf("Get: %v", err)
			}
		})
	}
	wg.Wait()
	if got := counter(t, p.centralReg, "hit"); got != 1 || p.centralGets(t) != 1 {
		t.Fatalf("central cache answered %v Gets (%v hits) for 200 concurrent cold Gets, want 1", p.centralGets(t), got)
	}
	if got := counter(t, p.nodeReg, "hit") + counter(t, p.nodeReg, "miss"); got != 200 {
		t.Fatalf("node counted %v Gets, want 200", got)
	}
}

// TestEvictionAtCacheSize: the node holds what fits in cacheSize and
// fetches again what it evicted, least recently used first.
func TestEvictionAtCacheSize(t *testing.T) {
	const size = 1000
	const weight = size + 1 + cache.Overhead
	p := startPair(t, Options{CacheSize: 2 * weight})
	ctx := servicetest.Context(t)
	for _, s := range []string{"a", "b", "c"} {
		if _, err := p.central.SetSharedData(ctx, &pb.SharedData{SessionId: s, Payload: make([]byte, size)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"a", "b", "a", "c"} { // c evicts b
		p.get(t, ctx, s, 0)
	}
	if entries, bytes := p.node.Node().Stats(); entries != 2 || bytes != 2*weight {
		t.Fatalf("node holds %d entries, %d bytes; want 2, %d", entries, bytes, 2*weight)
	}
	before := p.centralGets(t)
	p.get(t, ctx, "a", 0)
	p.get(t, ctx, "c", 0)
	if got := p.centralGets(t); got != before {
		t.Fatal("a or c was evicted")
	}
	p.get(t, ctx, "b", 0)
	if got := p.centralGets(t); got != before+1 {
		t.Fatal("b was not evicted")
	}
}

// TestTTLFromCentral: the node keeps an entry for the TTL the central
// cache reported when it was fetched.
func TestTTLFromCentral(t *testing.T) {
	p := startPair(t, Options{CacheSize: 1 << 20})
	ctx := servicetest.Context(t)
	if _, err := p.central.SetSharedData(ctx, &pb.SharedData{SessionId: "s", Payload: []byte("v"), Ttl: durationpb.New(10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(4 * time.Second)
	p.get(t, ctx, "s", 0)
	p.clock.Advance(5 * time.Second)
	d, err := p.nodeAPI.GetSharedData(ctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(0)})
	if err != nil || d.Ttl.AsDuration() != time.Second || counter(t, p.nodeReg, "hit") != 1 {
		t.Fatalf("Get before expiry = %v, %v", d, err)
	}
	p.clock.Advance(time.Second)
	_, err = p.nodeAPI.GetSharedData(ctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(0)})
	servicetest.WantCode(t, err, codes.NotFound)
	if got := p.centralGets(t); got != 2 {
		t.Fatalf("%v central Gets, want 2: the expired entry must be fetched again", got)
	}
}

// TestLargePayload: 10 MiB through the node both ways, and one byte over
// maxPayload refused.
func TestLargePayload(t *testing.T) {
	p := startPair(t, Options{CacheSize: 1 << 30})
	ctx := servicetest.Context(t)
	payload := make([]byte, 10<<20)
	_, _ = rand.NewChaCha8([32]byte{3, 4}).Read(payload)
	if _, err := p.nodeAPI.SetSharedData(ctx, &pb.SharedData{SessionId: "s", Payload: payload}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a miss, then a hit
		d, err := p.nodeAPI.GetSharedData(ctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(0)})
		if err != nil || !bytes.Equal(d.Payload, payload) {
			t.Fatalf("10 MiB round trip: %v", err)
		}
	}
	_, err := p.nodeAPI.UpdateSharedData(ctx, &pb.SharedData{SessionId: "s", Payload: make([]byte, cache.DefaultMaxPayload+1)})
	servicetest.WantCode(t, err, codes.InvalidArgument)
}
