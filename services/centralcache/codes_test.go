package centralcache

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/alpcrun/alpcrun/core/cache"
	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// TestCodes walks every path of the Cache service's proto comments.
func TestCodes(t *testing.T) {
	ts := startServer(t, Options{MaxPayload: 1 << 10})
	ctx := servicetest.Context(t)

	// Set: created at the given level, 0 when unset; ALREADY_EXISTS after.
	st, err := ts.c.SetSharedData(ctx, data("a", nil, "a0", 0))
	if err != nil || st.UpdateLevel != 0 {
		t.Fatalf("Set without level = %v, %v", st, err)
	}
	st, err = ts.c.SetSharedData(ctx, data("b", level(5), "b5", 0))
	if err != nil || st.UpdateLevel != 5 {
		t.Fatalf("Set at 5 = %v, %v", st, err)
	}
	_, err = ts.c.SetSharedData(ctx, data("b", level(9), "x", 0))
	servicetest.WantCode(t, err, codes.AlreadyExists)

	// Get: exact level or the newest; NOT_FOUND, FAILED_PRECONDITION.
	for _, tc := range []struct {
		req  *pb.SharedData
		want string
		code codes.Code
	}{
		{data("b", nil, "", 0), "b5", codes.OK},
		{data("b", level(5), "", 0), "b5", codes.OK},
		{data("a", level(0), "", 0), "a0", codes.OK},
		{data("b", level(4), "", 0), "", codes.FailedPrecondition},
		{data("b", level(6), "", 0), "", codes.FailedPrecondition},
		{data("nope", nil, "", 0), "", codes.NotFound},
		{data("nope", level(1), "", 0), "", codes.NotFound},
	} {
		d, err := ts.c.GetSharedData(ctx, tc.req)
		servicetest.WantCode(t, err, tc.code)
		if err == nil && (string(d.Payload) != tc.want || d.GetSessionId() != tc.req.SessionId || d.UpdateLevel == nil) {
			t.Fatalf("Get(%v) = %v", tc.req, d)
		}
	}

	// Update: unset is stored + 1, a set level must be above the stored one.
	st, err = ts.c.UpdateSharedData(ctx, data("b", nil, "b6", 0))
	if err != nil || st.UpdateLevel != 6 {
		t.Fatalf("Update without level = %v, %v", st, err)
	}
	st, err = ts.c.UpdateSharedData(ctx, data("b", level(10), "b10", 0))
	if err != nil || st.UpdateLevel != 10 {
		t.Fatalf("Update to 10 = %v, %v", st, err)
	}
	for _, l := range []uint32{10, 2} {
		_, err = ts.c.UpdateSharedData(ctx, data("b", level(l), "x", 0))
		servicetest.WantCode(t, err, codes.FailedPrecondition)
	}
	_, err = ts.c.UpdateSharedData(ctx, data("nope", nil, "x", 0))
	servicetest.WantCode(t, err, codes.NotFound)
	if d, err := ts.c.GetSharedData(ctx, data("b", nil, "", 0)); err != nil || d.GetUpdateLevel() != 10 || string(d.Payload) != "b10" {
		t.Fatalf("Get after updates = %v, %v", d, err)
	}

	// Delete: NOT_FOUND if absent.
	st, err = ts.c.DeleteSharedData(ctx, data("b", nil, "", 0))
	if err != nil || st.UpdateLevel != 10 {
		t.Fatalf("Delete = %v, %v", st, err)
	}
	_, err = ts.c.DeleteSharedData(ctx, data("b", nil, "", 0))
	servicetest.WantCode(t, err, codes.NotFound)
	_, err = ts.c.GetSharedData(ctx, data("b", nil, "", 0))
	servicetest.WantCode(t, err, codes.NotFound)

	// INVALID_ARGUMENT: empty or overlong session id, payload over
	// maxPayload, bad ttl.
	long := strings.Repeat("s", cache.MaxSessionID+1)
	for _, id := range []string{"", long} {
		_, err = ts.c.SetSharedData(ctx, data(id, nil, "x", 0))
		servicetest.WantCode(t, err, codes.InvalidArgument)
		_, err = ts.c.UpdateSharedData(ctx, data(id, nil, "x", 0))
		servicetest.WantCode(t, err, codes.InvalidArgument)
		_, err = ts.c.GetSharedData(ctx, data(id, nil, "", 0))
		servicetest.WantCode(t, err, codes.InvalidArgument)
		_, err = ts.c.DeleteSharedData(ctx, data(id, nil, "", 0))
		servicetest.WantCode(t, err, codes.InvalidArgument)
	}
	big := strings.Repeat("x", 1<<10+1)
	_, err = ts.c.SetSharedData(ctx, data("c", nil, big, 0))
	servicetest.WantCode(t, err, codes.InvalidArgument)
	_, err = ts.c.UpdateSharedData(ctx, data("a", nil, big, 0))
	servicetest.WantCode(t, err, codes.InvalidArgument)
	_, err = ts.c.SetSharedData(ctx, data("c", nil, "x", -time.Second))
	servicetest.WantCode(t, err, codes.InvalidArgument)
	_, err = ts.c.SetSharedData(ctx, &pb.SharedData{SessionId: "c", Ttl: &durationpb.Duration{Seconds: 1, Nanos: -1}})
	servicetest.WantCode(t, err, codes.InvalidArgument)
	if _, err := ts.c.GetSharedData(ctx, data("c", nil, "", 0)); err == nil {
		t.Fatal("a refused Set stored data")
	}

	if hit, miss := requests(t, ts.reg, "hit"), requests(t, ts.reg, "miss"); hit != 4 || miss != 8 {
		t.Fatalf("requests: %v hits, %v misses; want 4, 8", hit, miss)
	}
}

// TestTTL runs on the fake clock: an entry lives for its TTL (capped at
// maxTTL), Update restarts it, Get neither does nor extends it.
func TestTTL(t *testing.T) {
	ts := startServer(t, Options{MaxTTL: time.Minute})
	ctx := servicetest.Context(t)
	if _, err := ts.c.SetSharedData(ctx, data("s", nil, "v", 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.c.SetSharedData(ctx, data("capped", nil, "v", time.Hour)); err != nil {
		t.Fatal(err)
	}
	ts.clock.Advance(4 * time.Second)
	d, err := ts.c.GetSharedData(ctx, data("s", nil, "", 0))
	if err != nil || d.Ttl.AsDuration() != 6*time.Second {
		t.Fatalf("Get = %v, %v; want ttl 6s", d, err)
	}
	if _, err := ts.c.UpdateSharedData(ctx, data("s", nil, "v1", 0)); err != nil {
		t.Fatal(err)
	}
	ts.clock.Advance(55 * time.Second)
	d, err = ts.c.GetSharedData(ctx, data("s", nil, "", 0))
	if err != nil || d.Ttl.AsDuration() != 5*time.Second {
		t.Fatalf("Get after Update without ttl = %v, %v; want maxTTL restarted", d, err)
	}
	if _, err := ts.c.GetSharedData(ctx, data("capped", nil, "", 0)); err != nil {
		t.Fatal(err)
	}
	ts.clock.Advance(time.Second)
	_, err = ts.c.GetSharedData(ctx, data("capped", nil, "", 0))
	servicetest.WantCode(t, err, codes.NotFound)
	ts.clock.Advance(4 * time.Second)
	_, err = ts.c.GetSharedData(ctx, data("s", nil, "", 0))
	servicetest.WantCode(t, err, codes.NotFound)
	_, err = ts.c.DeleteSharedData(ctx, data("s", nil, "", 0))
	servicetest.WantCode(t, err, codes.NotFound)
	if _, err := ts.c.SetSharedData(ctx, data("s", level(3), "again", 0)); err != nil {
		t.Fatalf("Set after expiry: %v", err)
	}
}

// TestLargePayload: with the default maxPayload, 10 MiB goes through both
// ways unchanged, and one byte over maxPayload is INVALID_ARGUMENT.
func TestLargePayload(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := servicetest.Context(t)
	p := make([]byte, 10<<20)
	_, _ = rand.NewChaCha8([32]byte{1, 2}).Read(p)
	if _, err := ts.c.SetSharedData(ctx, &pb.SharedData{SessionId: "s", Payload: p}); err != nil {
		t.Fatal(err)
	}
	d, err := ts.c.GetSharedData(ctx, data("s", level(0), "", 0))
	if err != nil || !bytes.Equal(d.Payload, p) {
		t.Fatalf("10 MiB round trip: %v", err)
	}
	_, err = ts.c.UpdateSharedData(ctx, &pb.SharedData{SessionId: "s", Payload: make([]byte, cache.DefaultMaxPayload+1)})
	servicetest.WantCode(t, err, codes.InvalidArgument)
}

// A write past maxBytes, what all sessions may hold together, is
// RESOURCE_EXHAUSTED: one client cannot fill the cache that others share.
func TestMaxBytes(t *testing.T) {
	ts := startServer(t, Options{MaxPayload: 1 << 10, MaxBytes: 1 << 10})
	ctx := servicetest.Context(t)
	big := string(make([]byte, 600))
	if _, err := ts.c.SetSharedData(ctx, data("a", nil, big, 0)); err != nil {
		t.Fatal(err)
	}
	_, err := ts.c.SetSharedData(ctx, data("b", nil, big, 0))
	servicetest.WantCode(t, err, codes.ResourceExhausted)
	if _, err := ts.c.SetSharedData(ctx, data("b", nil, big[:400], 0)); err != nil {
		t.Fatalf("a smaller one fits: %v", err)
	}
	_, err = ts.c.UpdateSharedData(ctx, data("a", nil, big+big[:100], 0))
	servicetest.WantCode(t, err, codes.ResourceExhausted)
}
