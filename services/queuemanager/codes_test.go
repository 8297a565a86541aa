package queuemanager

import (
	"context"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

func u32(v uint32) *uint32 { return &v }

func TestCreateSessionDefaultsAndCodes(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)

	s := ts.createSession(t, ctx, nil)
	a := s.Attributes
	if s.Id == "" || a.ClientId == "" {
		t.Fatalf("id %q client_id %q: want ULIDs", s.Id, a.ClientId)
	}
	if a.IdleTimeout.AsDuration().Seconds() != 60 || a.MaxInflightBatchesPerWorker != 10 || a.MaxAttempts != 3 {
		t.Fatalf("defaults not filled: %v", a)
	}
	_, err := ts.q.CreateSession(ctx, &pb.Session{Id: s.Id, App: &pb.App{Id: "x"}})
	wantCode(t, err, codes.AlreadyExists)

	bad := []*pb.Session{
		{Id: "noapp"},
		{App: &pb.App{Id: "x"}, Attributes: &pb.SessionAttributes{Priority: 11}},
		{App: &pb.App{Id: "x"}, Attributes: &pb.SessionAttributes{MinWorkers: u32(3), MaxWorkers: u32(2)}},
		{App: &pb.App{Id: "x"}, Attributes: &pb.SessionAttributes{IdleTimeout: durationpb.New(-1)}},
		{App: &pb.App{Id: "x"}, Attributes: &pb.SessionAttributes{TaskTimeout: &durationpb.Duration{Seconds: -5}}},
	}
	for _, b := range bad {
		_, err := ts.q.CreateSession(ctx, b)
		wantCode(t, err, codes.InvalidArgument)
	}
}

func TestUpdateAndCloseSession(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, &pb.SessionAttributes{Priority: 2, MaxWorkers: u32(4)})

	_, err := ts.q.UpdateSession(ctx, &pb.Session{Id: "nope", Attributes: &pb.SessionAttributes{Priority: 1}})
	wantCode(t, err, codes.NotFound)
	_, err = ts.q.UpdateSession(ctx, &pb.Session{Id: s.Id, Attributes: &pb.SessionAttributes{Priority: 12}})
	wantCode(t, err, codes.InvalidArgument)
	_, err = ts.q.UpdateSession(ctx, &pb.Session{Id: s.Id, Attributes: &pb.SessionAttributes{MinWorkers: u32(5)}})
	wantCode(t, err, codes.InvalidArgument) // above the max of 4
	if _, err := ts.q.UpdateSession(ctx, &pb.Session{Id: s.Id, Attributes: &pb.SessionAttributes{Priority: 7, MaxWorkers: u32(8)}}); err != nil {
		t.Fatal(err)
	}
	got, _ := ts.sessions.Get(s.Id)
	if a := got.Attributes(); a.Priority != 7 || *a.MaxWorkers != 8 || a.MaxAttempts != 3 {
		t.Fatalf("after update: %+v", a)
	}

	st, err := ts.q.CloseSession(ctx, &pb.Session{Id: s.Id})
	if err != nil || !strings.Contains(st.Message, "discarded") {
		t.Fatalf("CloseSession = %v, %v", st, err)
	}
	_, err = ts.q.CloseSession(ctx, &pb.Session{Id: s.Id})
	wantCode(t, err, codes.NotFound)
	_, err = ts.q.UpdateSession(ctx, &pb.Session{Id: s.Id})
	wantCode(t, err, codes.NotFound)
}

func TestClientStreamCodes(t *testing.T) {
	ts := startServer(t, Options{MaxBatchBytes: 1024})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)

	cases := []struct {
		name string
		md   metadata.MD
		b    *pb.Batch
		code codes.Code
	}{
		{"unknown session in batch", nil, batchOf("nope", "a"), codes.NotFound},
		{"unknown session in metadata", metadata.Pairs("sessionid", "nope"), batchOf("", "a"), codes.NotFound},
		{"no session at all", nil, batchOf("", "a"), codes.InvalidArgument},
		{"empty batch", nil, batchOf(s.Id), codes.InvalidArgument},
		{"empty message id", nil, batchOf(s.Id, "a", ""), codes.InvalidArgument},
		{"duplicate ids", nil, batchOf(s.Id, "a", "b", "a"), codes.InvalidArgument},
		{"over maxBatchBytes", nil, &pb.Batch{SessionId: s.Id, Messages: []*pb.Message{{Id: "a", Payload: make([]byte, 2048)}}}, codes.InvalidArgument},
		{"other session than attached", metadata.Pairs("sessionid", s.Id), batchOf("other", "a"), codes.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sctx := ctx
			if c.md != nil {
				sctx = metadata.NewOutgoingContext(ctx, c.md)
			}
			st, err := ts.q.ClientStream(sctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = st.Send(c.b)
			_, err = st.Recv()
			wantCode(t, err, c.code)
		})
	}
	// Nothing of the refused batches was queued.
	sess, _ := ts.sessions.Get(s.Id)
	if n := sess.Pending(); n != 0 {
		t.Fatalf("pending = %d after refused batches", n)
	}
	_, err := ts.q.ClientStreamDeadLetters(ctx, &pb.Session{Id: "nope"})
	if err == nil {
		st, _ := ts.q.ClientStreamDeadLetters(ctx, &pb.Session{Id: "nope"})
		_, err = st.Recv()
	}
	wantCode(t, err, codes.NotFound)
}

func TestWorkerStreamCodes(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	w := ts.newRawWorker(t, ctx)

	open := func(md metadata.MD) error {
		st, err := ts.q.WorkerStream(metadata.NewOutgoingContext(ctx, md))
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	wantCode(t, open(metadata.Pairs("workerid", w.id)), codes.InvalidArgument)
	wantCode(t, open(metadata.Pairs("sessionid", s.Id)), codes.InvalidArgument)
	wantCode(t, open(metadata.Pairs("workerid", "ghost", "sessionid", s.Id)), codes.NotFound)
	wantCode(t, open(metadata.Pairs("workerid", w.id, "sessionid", "nope")), codes.NotFound)
	wantCode(t, open(metadata.Pairs("workerid", w.id, "sessionid", s.Id)), codes.FailedPrecondition)
}

func TestRequireClientID(t *testing.T) {
	ts := startServer(t, Options{RequireClientID: true})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, &pb.SessionAttributes{ClientId: "alice"})
	as := func(id string) context.Context {
		return metadata.NewOutgoingContext(ctx, metadata.Pairs("clientid", id, "sessionid", s.Id))
	}
	for _, who := range []string{"mallory", ""} {
		cs, err := ts.q.ClientStream(as(who))
		if err == nil {
			_, err = cs.Recv()
		}
		wantCode(t, err, codes.PermissionDenied)
		dl, err := ts.q.ClientStreamDeadLetters(as(who), &pb.Session{Id: s.Id})
		if err == nil {
			_, err = dl.Recv()
		}
		wantCode(t, err, codes.PermissionDenied)
		_, err = ts.q.UpdateSession(as(who), &pb.Session{Id: s.Id, Attributes: &pb.SessionAttributes{Priority: 3}})
		wantCode(t, err, codes.PermissionDenied)
		_, err = ts.q.CloseSession(as(who), &pb.Session{Id: s.Id})
		wantCode(t, err, codes.PermissionDenied)
	}
	dl, err := ts.q.ClientStreamDeadLetters(as("alice"), &pb.Session{Id: s.Id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dl.Recv(); err != io.EOF {
		t.Fatalf("owner's dead-letter read: %v", err)
	}
	if _, err := ts.q.CloseSession(as("alice"), &pb.Session{Id: s.Id}); err != nil {
		t.Fatal(err)
	}
}
