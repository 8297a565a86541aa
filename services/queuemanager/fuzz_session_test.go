package queuemanager

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/alpcrun/alpcrun/core/session"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// FuzzSessionAttributes feeds arbitrary wire bytes as a Session to the
// attribute conversion, its validation and CreateSession: nothing panics, an
// accepted session respects docs/design.md, Sessions, and a rejected one is
// INVALID_ARGUMENT (or ALREADY_EXISTS for a reused id).
//
//	go test -run '^$' -fuzz FuzzSessionAttributes -fuzztime 30s ./services/queuemanager
func FuzzSessionAttributes(f *testing.F) {
	for _, s := range []*pb.Session{
		{App: &pb.App{Id: "a"}},
		{App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{Priority: 10, MinWorkers: u32(1), MaxWorkers: u32(2)}},
		{App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{Priority: 11}},
		{App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{MinWorkers: u32(3), MaxWorkers: u32(2)}},
		{App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{IdleTimeout: &durationpb.Duration{Seconds: -1}}},
		{App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{TaskTimeout: &durationpb.Duration{Seconds: 1, Nanos: -1}}},
		{App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{IdleTimeout: &durationpb.Duration{Seconds: 1 << 62}}},
		{Id: "fixed", App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{ClientId: "c", Tags: []string{"x", ""}, MaxAttempts: 1}},
		{},
	} {
		raw, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	opts := DefaultOptions()
	opts.SchedulerInterval = time.Hour
	srv, err := New(opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(srv.Close)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var in pb.Session
		if proto.Unmarshal(raw, &in) != nil {
			return
		}
		attrs, convErr := fromProto(in.GetAttributes())
		if convErr != nil && !errors.Is(convErr, session.ErrInvalid) {
			t.Fatalf("fromProto error %v is not session.ErrInvalid", convErr)
		}
		valid := convErr == nil && attrs.Validate() == nil
		if valid {
			if attrs.Priority > session.MaxPriority {
				t.Fatalf("accepted priority %d", attrs.Priority)
			}
			if attrs.MinWorkers != nil && attrs.MaxWorkers != nil && *attrs.MaxWorkers < *attrs.MinWorkers {
				t.Fatalf("accepted max_workers %d below min_workers %d", *attrs.MaxWorkers, *attrs.MinWorkers)
			}
			if attrs.IdleTimeout < 0 || attrs.TaskTimeout < 0 {
				t.Fatalf("accepted negative durations %v %v", attrs.IdleTimeout, attrs.TaskTimeout)
			}
		}

		out, err := srv.CreateSession(context.Background(), &in)
		if err != nil {
			c := status.Code(err)
			if c == codes.AlreadyExists {
				return
			}
			if c != codes.InvalidArgument {
				t.Fatalf("CreateSession: code %v, want InvalidArgument: %v", c, err)
			}
			if valid && in.GetApp().GetId() != "" {
				t.Fatalf("CreateSession rejected valid attributes: %v", err)
			}
			return
		}
		if !valid || in.GetApp().GetId() == "" {
			t.Fatalf("CreateSession accepted invalid input %v", &in)
		}
		a := out.GetAttributes()
		if a.GetPriority() > session.MaxPriority || a.GetIdleTimeout().AsDuration() < 0 || a.GetTaskTimeout().AsDuration() < 0 {
			t.Fatalf("created session breaks the session rules: %v", a)
		}
		if a.MinWorkers != nil && a.MaxWorkers != nil && a.GetMaxWorkers() < a.GetMinWorkers() {
			t.Fatalf("created session has max_workers below min_workers: %v", a)
		}
		if _, err := srv.CloseSession(context.Background(), out); err != nil {
			t.Fatalf("CloseSession: %v", err)
		}
	})
}
