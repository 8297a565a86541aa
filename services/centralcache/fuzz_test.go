package centralcache

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// FuzzCacheRequest feeds arbitrary SharedData messages to the handlers:
// none may panic or answer with a code outside the contract, and a Set or
// Update that succeeded must be read back as written. The corpus is in
// testdata/fuzz/FuzzCacheRequest.
//
//	go test -run '^$' -fuzz FuzzCacheRequest ./services/centralcache
func FuzzCacheRequest(f *testing.F) {
	for _, d := range []*pb.SharedData{
		{SessionId: "s", Payload: []byte("p")},
		{SessionId: "s", UpdateLevel: proto.Uint32(3), Ttl: durationpb.New(time.Second)},
		{SessionId: "", Payload: make([]byte, 100)},
		{SessionId: "s", Ttl: &durationpb.Duration{Seconds: -1}},
	} {
		b, err := proto.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		for op := range uint8(4) {
			f.Add(op, b)
		}
	}
	opts := DefaultOptions()
	opts.MaxPayload, opts.MaxTTL = 64, time.Minute
	// A stopped clock: a write with a 1 ns TTL would otherwise expire
	// before it is read back.
	epoch := time.Unix(1_700_000_000, 0)
	opts.Now = func() time.Time { return epoch }
	s, err := New(opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, op uint8, msg []byte) {
		req := &pb.SharedData{}
		if proto.Unmarshal(msg, req) != nil {
			return
		}
		var err error
		switch op % 4 {
		case 0:
			_, err = s.SetSharedData(ctx, req)
		case 1:
			_, err = s.UpdateSharedData(ctx, req)
		case 2:
			_, err = s.GetSharedData(ctx, req)
		case 3:
			_, err = s.DeleteSharedData(ctx, req)
		}
		switch c := status.Code(err); c {
		case codes.OK:
			if op%4 <= 1 {
				d, err := s.GetSharedData(ctx, &pb.SharedData{SessionId: req.SessionId})
				if err != nil || !bytes.Equal(d.Payload, req.Payload) {
					t.Fatalf("written %q, read %v, %v", req.Payload, d, err)
				}
			}
		case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition:
		default:
			t.Fatalf("op %d: code %v (%v)", op%4, c, err)
		}
	})
}
