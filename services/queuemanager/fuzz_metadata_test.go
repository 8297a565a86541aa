package queuemanager

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// metadataCodes are the codes a stream may end with on bad metadata.
// Internal is the client library refusing a value it cannot send.
var metadataCodes = []codes.Code{codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.FailedPrecondition, codes.Internal}

// FuzzMetadata feeds arbitrary sessionid, workerid, clientid, node and pod
// metadata to the parsing helpers directly and to ClientStream,
// WorkerStream and WorkerUpdate over loopback gRPC with requireClientID
// on: nothing panics and every refusal is a gRPC status with a known code.
//
//	go test -run '^$' -fuzz FuzzMetadata -fuzztime 30s ./services/queuemanager
func FuzzMetadata(f *testing.F) {
	f.Add("s1", "w1", "c1", "n1", "p1")
	f.Add("s1", "", "c2", "", "")
	f.Add("", "", "", "", "")
	f.Add("nope", "w", "c1", "node\x00", "pod\n")
	f.Add("s1 ", "\xff", "C1", "ü", "\t")
	f.Add("s1", "w1", "", "a,b", "p")

	ts := startServer(f, Options{SchedulerInterval: time.Hour, RequireClientID: true})
	srv, q := ts.Server, ts.q
	if _, err := srv.CreateSession(context.Background(), &pb.Session{Id: "s1", App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{ClientId: "c1"}}); err != nil {
		f.Fatal(err)
	}
	sess, err := srv.sessions.Get("s1")
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, sid, wid, cid, node, pod string) {
		for k, v := range map[string]string{"sessionid": sid, "workerid": wid, "clientid": cid, "node": node, "pod": pod} {
			in := metadata.NewIncomingContext(context.Background(), metadata.MD{k: {v, "second"}})
			if got := mdValue(in, k); got != v {
				t.Fatalf("mdValue(%s) = %q, want %q", k, got, v)
			}
		}
		in := metadata.NewIncomingContext(context.Background(), metadata.Pairs("clientid", cid))
		if err := srv.checkClient(in, sess); (err == nil) != (cid == "c1") {
			t.Fatalf("checkClient(%q) = %v", cid, err)
		} else if err != nil && status.Code(err) != codes.PermissionDenied {
			t.Fatalf("checkClient(%q): code %v, want PermissionDenied", cid, status.Code(err))
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		wantStatus := func(what string, err error) {
			t.Helper()
			if err == nil || errors.Is(err, io.EOF) {
				return
			}
			s, ok := status.FromError(err)
			if !ok || !slices.Contains(metadataCodes, s.Code()) {
				t.Fatalf("%s: %v (code %v)", what, err, s.Code())
			}
		}

		cs, err := q.ClientStream(metadata.NewOutgoingContext(ctx, metadata.Pairs("sessionid", sid, "clientid", cid)))
		if err == nil {
			err = cs.CloseSend()
			for err == nil {
				_, err = cs.Recv()
			}
		}
		wantStatus("ClientStream", err)

		ws, err := q.WorkerStream(metadata.NewOutgoingContext(ctx, metadata.Pairs("sessionid", sid, "workerid", wid)))
		if err == nil {
			_, err = ws.Recv()
		}
		if err == nil {
			t.Fatalf("WorkerStream(sessionid %q, workerid %q) accepted an unregistered worker", sid, wid)
		}
		wantStatus("WorkerStream", err)

		uctx, ucancel := context.WithCancel(ctx)
		defer ucancel()
		ctl, err := q.WorkerUpdate(metadata.NewOutgoingContext(uctx, metadata.Pairs("node", node, "pod", pod)))
		if err == nil {
			_, err = ctl.Header()
		}
		wantStatus("WorkerUpdate", err)
	})
}
