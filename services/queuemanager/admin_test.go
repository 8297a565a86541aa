package queuemanager

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// TestAdminCounts follows one session through the Admin API: tasks queued,
// in flight at a bound worker, then done and dead.
func TestAdminCounts(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	adm := pb.NewAdminClient(ts.cc)
	s := ts.createSession(t, ctx, &pb.SessionAttributes{MaxWorkers: u32(1), MaxInflightBatchesPerWorker: 1})
	cs := ts.clientStream(t, ctx, s.Id)
	for i := range 3 {
		if err := cs.Send(batchOf(s.Id, ids(string(rune('a'+i)), 4)...)); err != nil {
			t.Fatal(err)
		}
	}
	get := func() *pb.SessionInfo {
		info, err := adm.GetSession(ctx, &pb.GetSessionRequest{Id: s.Id})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	waitFor(t, func() bool { return get().TasksAccepted == 12 }, "12 tasks accepted")
	if info := get(); info.TasksQueued != 12 || info.TasksInflight != 0 || info.BatchesQueued != 3 || info.Session.App.Id != "test" {
		t.Fatalf("before any worker: %v", info)
	}

	w := ts.newRawWorker(t, ctx)
	st := w.bindNext(t, s.Id)
	b, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return get().TasksInflight == 4 }, "4 tasks in flight")
	info := get()
	if info.TasksQueued != 8 || info.BatchesInflight != 1 || !slices.Equal(info.Workers, []string{w.id}) {
		t.Fatalf("one batch at the worker: %v", info)
	}
	workers, err := adm.ListWorkers(ctx, &pb.ListWorkersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(workers.Workers) != 1 {
		t.Fatalf("workers %v", workers.Workers)
	}
	wi := workers.Workers[0]
	if wi.Id != w.id || wi.Node != "n1" || wi.Pod != "p1" || wi.State != pb.WorkerState_BOUND || wi.SessionId != s.Id ||
		wi.InflightBatches != 1 || wi.LastHeartbeat == nil || wi.Registered == nil {
		t.Fatalf("worker %v", wi)
	}

	r := echo(b)
	r.Messages[0].Error = "boom"
	if err := st.Send(r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { i := get(); return i.TasksDone == 3 && i.TasksDead == 1 }, "3 done, 1 dead")
	workers, err = adm.ListWorkers(ctx, &pb.ListWorkersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := workers.Workers[0].TasksDone; n != 4 {
		t.Fatalf("worker tasks done %d, want 4", n)
	}
	st0, err := adm.GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st0.Sessions != 1 || st0.Workers != 1 || st0.WorkersBound != 1 || st0.TasksAcceptedTotal != 12 ||
		st0.TasksDoneTotal != 3 || st0.TasksDeadTotal != 1 || st0.Scheduler != "priority" || st0.Version == "" {
		t.Fatalf("cluster status %v", st0)
	}

	if _, err := adm.CloseSession(ctx, &pb.CloseSessionRequest{Id: s.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = adm.GetSession(ctx, &pb.GetSessionRequest{Id: s.Id})
	wantCode(t, err, codes.NotFound)
	_, err = adm.CloseSession(ctx, &pb.CloseSessionRequest{Id: s.Id})
	wantCode(t, err, codes.NotFound)
	_, err = adm.GetSession(ctx, &pb.GetSessionRequest{})
	wantCode(t, err, codes.InvalidArgument)
}

func TestAdminPages(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	adm := pb.NewAdminClient(ts.cc)
	var want []string
	for range 5 {
		want = append(want, ts.createSession(t, ctx, nil).Id)
	}
	slices.Sort(want)
	var got []string
	token, pages := "", 0
	for {
		resp, err := adm.ListSessions(ctx, &pb.ListSessionsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range resp.Sessions {
			got = append(got, s.Session.Id)
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Fatalf("%d pages of %v, want 3 of %v", pages, got, want)
	}
	all, err := adm.ListSessions(ctx, &pb.ListSessionsRequest{})
	if err != nil || len(all.Sessions) != 5 || all.NextPageToken != "" {
		t.Fatalf("one page: %v %v", all, err)
	}

	ts.newRawWorker(t, ctx)
	wp, err := adm.ListWorkers(ctx, &pb.ListWorkersRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = adm.ListSessions(ctx, &pb.ListSessionsRequest{PageToken: "garbage!"})
	wantCode(t, err, codes.InvalidArgument)
	first, err := adm.ListSessions(ctx, &pb.ListSessionsRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = adm.ListWorkers(ctx, &pb.ListWorkersRequest{PageToken: first.NextPageToken})
	wantCode(t, err, codes.InvalidArgument)
	_, err = adm.ListSessions(ctx, &pb.ListSessionsRequest{PageSize: -1})
	wantCode(t, err, codes.InvalidArgument)
	if len(wp.Workers) != 1 || wp.NextPageToken != "" {
		t.Fatalf("workers page %v", wp)
	}
}

// TestAdminClientScope: with requireClientID, a caller presenting a
// clientid sees and closes only its own sessions; one without sees all.
func TestAdminClientScope(t *testing.T) {
	ts := startServer(t, Options{RequireClientID: true})
	ctx := testCtx(t)
	adm := pb.NewAdminClient(ts.cc)
	a := ts.createSession(t, ctx, &pb.SessionAttributes{ClientId: "alice"})
	b := ts.createSession(t, ctx, &pb.SessionAttributes{ClientId: "bob"})
	asAlice := metadata.AppendToOutgoingContext(ctx, "clientid", "alice")
	list := func(ctx context.Context) []string {
		resp, err := adm.ListSessions(ctx, &pb.ListSessionsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range resp.Sessions {
			out = append(out, s.Session.Id)
		}
		slices.Sort(out)
		return out
	}
	both := []string{a.Id, b.Id}
	slices.Sort(both)
	if got := list(ctx); !slices.Equal(got, both) {
		t.Fatalf("operator sees %v, want %v", got, both)
	}
	if got := list(asAlice); !slices.Equal(got, []string{a.Id}) {
		t.Fatalf("alice sees %v, want only %s", got, a.Id)
	}
	st, err := adm.GetClusterStatus(asAlice, &pb.GetClusterStatusRequest{})
	if err != nil || st.Sessions != 1 {
		t.Fatalf("alice's status %v %v", st, err)
	}
	_, err = adm.GetSession(asAlice, &pb.GetSessionRequest{Id: b.Id})
	wantCode(t, err, codes.NotFound)
	_, err = adm.CloseSession(asAlice, &pb.CloseSessionRequest{Id: b.Id})
	wantCode(t, err, codes.NotFound)
	if _, err := adm.CloseSession(ctx, &pb.CloseSessionRequest{Id: b.Id}); err != nil {
		t.Fatalf("operator close: %v", err)
	}
}

// FuzzAdmin feeds arbitrary page sizes, page tokens and session ids to the
// Admin handlers: each answers OK or a clear status, never panics.
func FuzzAdmin(f *testing.F) {
	f.Add(int32(2), "", "x")
	f.Add(int32(-1), "cw", "")
	f.Add(int32(1000000), "czo", "01M97RZE7RM975847FAFNYZ4NH")
	ts := startServer(f, Options{})
	ctx := context.Background()
	for range 3 {
		if _, err := ts.q.CreateSession(ctx, &pb.Session{App: &pb.App{Id: "fuzz"}}); err != nil {
			f.Fatal(err)
		}
	}
	a := adminServer{s: ts.Server}
	ok := func(t *testing.T, err error, codes ...codes.Code) {
		if c := status.Code(err); !slices.Contains(codes, c) {
			t.Fatalf("code %v (%v)", c, err)
		}
	}
	f.Fuzz(func(t *testing.T, size int32, token, id string) {
		_, err := a.ListSessions(ctx, &pb.ListSessionsRequest{PageSize: size, PageToken: token})
		ok(t, err, codes.OK, codes.InvalidArgument)
		_, err = a.ListWorkers(ctx, &pb.ListWorkersRequest{PageSize: size, PageToken: token})
		ok(t, err, codes.OK, codes.InvalidArgument)
		_, err = a.GetSession(ctx, &pb.GetSessionRequest{Id: id})
		ok(t, err, codes.NotFound, codes.InvalidArgument)
	})
}
