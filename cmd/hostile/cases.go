package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// The cases of issue 13, in its order. Each starts its own services, so
// that one wedged by an earlier case cannot spoil the next, and the RSS
// columns are the attack's alone.
var cases = []hostileCase{
	{"1", "dead letters stall the scheduler", case1},
	{"2", ">1,000 failing tasks wedge the worker", case2},
	{"3", "session ids on /metrics, attach + close", case3},
	{"4", "another tenant's shared data", case4},
	{"5", "squat a session id after a restart", case5},
	{"6a", "2,000 sessions with fresh client_ids", case6a},
	{"6b", "sessions with 8 MB tags", case6b},
	{"6c", "32 MB task batches", case6c},
	{"6d", "central cache: 24 x 16 MB", case6d},
	{"7a", "idle ClientStreams", case7a},
	{"7b", "health Watch streams, no key", case7b},
	{"8", "min_workers=1000 at low priority", case8},
	{"9", "client key registers as a worker", case9},
	{"10a", "pprof/fgprof on the metrics port", case10a},
	{"10b", "half-closed ClientStreams of one session", case10b},
}

// services is the queue manager of a case, its connection, and what to
// stop at the end.
type services struct {
	qm   *proc
	conn *grpc.ClientConn
	q    pb.QueueClient
	stop []func()
}

func (s *services) close() {
	for i := len(s.stop) - 1; i >= 0; i-- {
		s.stop[i]()
	}
}

func (h *harness) startQM(ctx context.Context, r *row, kv ...string) (*services, error) {
	qm, err := h.qm(ctx, r, kv...)
	if err != nil {
		return nil, err
	}
	s := &services{qm: qm, stop: []func(){qm.stop}}
	if s.conn, err = dial(qm.addr); err != nil {
		s.close()
		return nil, err
	}
	s.stop = append(s.stop, func() { s.conn.Close() })
	s.q = pb.NewQueueClient(s.conn)
	return s, nil
}

// echoWorker starts the worker binary against s.
func (h *harness) echoWorker(s *services, task string) error {
	w, err := h.worker(s.qm.addr, task)
	if err != nil {
		return err
	}
	s.stop = append(s.stop, w.kill)
	return nil
}

// attackerStream creates the attacker's session with attrs and opens its
// client stream, both ending with ctx.
func (h *harness) attackerStream(ctx context.Context, s *services, attrs *pb.SessionAttributes) (*pb.Session, grpc.BidiStreamingClient[pb.Batch, pb.Batch], error) {
	a, err := s.q.CreateSession(as(ctx, h.attackerKey), &pb.Session{App: &pb.App{Id: "attacker"}, Attributes: attrs})
	if err != nil {
		return nil, nil, fmt.Errorf("attacker's session: %w", err)
	}
	st, err := s.q.ClientStream(as(ctx, h.attackerKey, "sessionid", a.Id))
	return a, st, err
}

// Case 1. With max_attempts=1 and task_timeout=1ms, 1,100 one-task batches
// and one slow worker fill the session's dead-letter queue (bufferSize
// 1,000) on the scheduler's tick. Then an unrelated client sends 5 tasks.
func case1(ctx context.Context, h *harness, r *row) error {
	s, err := h.startQM(ctx, r, "schedulerInterval", "200ms")
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	actx, stopAttack := context.WithCancel(ctx)
	defer stopAttack()
	attrs := &pb.SessionAttributes{MaxAttempts: 1, TaskTimeout: durationpb.New(time.Millisecond), MaxInflightBatchesPerWorker: 1000}
	a, st, err := h.attackerStream(actx, s, attrs)
	if err != nil {
		return err
	}
	const n = 1100
	for i := range n {
		if err := st.Send(tasks(a.Id, fmt.Sprint("a", i), 1)); err != nil {
			return fmt.Errorf("attacker's batch %d: %w", i, err)
		}
	}
	// The slow worker answers each batch after 2 s, long past the 1 ms
	// task_timeout; the attacker never reads its dead letters.
	slow, err := newRawWorker(actx, s.q, h.workerKey, func(string, *pb.Batch) (*pb.Batch, time.Duration) { return nil, 0 })
	if err != nil {
		return fmt.Errorf("slow worker: %w", err)
	}
	slow.handle = func(_ string, b *pb.Batch) (*pb.Batch, time.Duration) { return echo(b), 2 * time.Second }
	// Every batch dead: 1,100 on the fixed system; the old one stops at
	// the queue's 1,000 with its loop blocked.
	waitUntil(ctx, 8*time.Second, func() bool { return metric(ctx, s.qm.http, `alpcrun_tasks_total{outcome="dead"}`) >= n })
	dead := metric(ctx, s.qm.http, `alpcrun_tasks_total{outcome="dead"}`)
	if err := h.echoWorker(s, ""); err != nil {
		return err
	}
	got, err := victim(ctx, s.q, h.victimKey, nil, 5, h.victimDeadline)
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("%d of 5 results (%s)", got, code(err))
	r.note("attacker: %d one-task batches, %d dead-lettered, slow worker received %d", n, int(dead), slow.received.Load())
	r.pass = got == 5
	return nil
}

// Case 2. A worker fails 1,100 one-task batches of the attacker's session,
// whose client does not read its dead letters while the worker serves it.
// The same worker must then serve a victim's session, and the attacker's
// client, reading its dead letters, get all 1,100 and the stream's end.
func case2(ctx context.Context, h *harness, r *row) error {
	s, err := h.startQM(ctx, r)
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	a, err := s.q.CreateSession(as(ctx, h.attackerKey), &pb.Session{App: &pb.App{Id: "attacker"}})
	if err != nil {
		return fmt.Errorf("attacker's session: %w", err)
	}
	st, err := s.q.ClientStream(as(ctx, h.attackerKey, "sessionid", a.Id))
	if err != nil {
		return err
	}
	const n = 1100
	for i := range n {
		if err := st.Send(tasks(a.Id, fmt.Sprint("a", i), 1)); err != nil {
			return fmt.Errorf("attacker's batch %d: %w", i, err)
		}
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	w, err := newRawWorker(ctx, s.q, h.workerKey, func(session string, b *pb.Batch) (*pb.Batch, time.Duration) {
		if session == a.Id {
			return fail(b), 0
		}
		return echo(b), 0
	})
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	// The dead-letter queue (bufferSize 1,000) is full: past this the old
	// worker blocks, and the fixed session gets no worker until its
	// client reads.
	waitUntil(ctx, 8*time.Second, func() bool { return w.received.Load() >= 1000 })
	failed := w.received.Load()
	got, verr := victim(ctx, s.q, h.victimKey, nil, 5, h.victimDeadline)

	// The attacker's client reads its dead letters until it has them all
	// and its stream ended.
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := st.Recv(); err != nil {
				ended <- err
				return
			}
		}
	}()
	dead := 0
	deadline := time.Now().Add(h.victimDeadline)
	for dead < n && time.Now().Before(deadline) {
		dctx, cancel := context.WithDeadline(ctx, deadline)
		dl, err := s.q.ClientStreamDeadLetters(as(dctx, h.attackerKey), &pb.Session{Id: a.Id})
		for err == nil {
			var b *pb.Batch
			if b, err = dl.Recv(); err == nil {
				dead += len(b.Messages)
			}
		}
		cancel()
		if err != io.EOF {
			break
		}
	}
	endErr := context.DeadlineExceeded
	select {
	case endErr = <-ended:
	case <-time.After(time.Until(deadline)):
	}
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("%d of 5 results (%s)", got, code(verr))
	streamEnd := "ended"
	if endErr != io.EOF {
		streamEnd = "did not end (" + code(endErr) + ")"
	}
	r.note("worker answered %d of %d failing batches before the victim came; attacker's client then read %d of %d dead letters, its stream %s",
		failed, n, dead, n, streamEnd)
	r.pass = got == 5 && dead == n && endErr == io.EOF
	return nil
}

var sessionLabel = regexp.MustCompile(`session="([^"]*)"`)

// Case 3. A victim's session with 200 queued tasks; the attacker, another
// key holder, reads session ids from /metrics, attaches to the victim's
// session and closes it once it got a result (or was refused).
func case3(ctx context.Context, h *harness, r *row) error {
	s, err := h.startQM(ctx, r)
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	v, err := s.q.CreateSession(as(ctx, h.victimKey), &pb.Session{App: &pb.App{Id: "victim"}})
	if err != nil {
		return err
	}
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	vs, err := s.q.ClientStream(as(vctx, h.victimKey, "sessionid", v.Id))
	if err != nil {
		return err
	}
	const n = 200
	for i := range n / 10 {
		if err := vs.Send(tasks(v.Id, fmt.Sprint("v", i), 10)); err != nil {
			return err
		}
	}
	if err := vs.CloseSend(); err != nil {
		return err
	}
	// Wait for the queued tasks to show (old binaries label depths by
	// session while tasks are queued).
	waitUntil(ctx, 2*time.Second, func() bool {
		return metric(ctx, s.qm.http, `alpcrun_tasks_total{outcome="accepted"}`) >= n
	})
	_, body, err := get(ctx, "http://"+s.qm.http+"/metrics")
	if err != nil {
		return err
	}
	ids := map[string]bool{}
	for _, m := range sessionLabel.FindAllStringSubmatch(body, -1) {
		ids[m[1]] = true
	}
	leaked := ids[v.Id]
	target := v.Id // on a fixed system the attacker is given the id, as if it leaked elsewhere

	var stolen atomic.Int64
	closeCode := make(chan string, 1)
	attached := make(chan string, 1)
	go func() {
		st, err := s.q.ClientStream(as(vctx, h.attackerKey, "sessionid", target))
		closed := false
		closeOnce := func() {
			if !closed {
				closed = true
				_, err := s.q.CloseSession(as(ctx, h.attackerKey), &pb.Session{Id: target})
				closeCode <- code(err)
			}
		}
		for err == nil {
			var b *pb.Batch
			if b, err = st.Recv(); err == nil {
				stolen.Add(int64(len(b.Messages)))
				if stolen.Load() >= n/2 {
					closeOnce()
				}
			}
		}
		attached <- code(err)
		closeOnce()
	}()
	if err := h.echoWorker(s, "sleep:5ms"); err != nil {
		return err
	}
	got, verr := results(vs, n, h.victimDeadline)
	r.qm[1] = s.qm.rss()
	cancel()
	r.victim = fmt.Sprintf("%d of %d results (%s)", got, n, code(verr))
	cc := "not tried"
	select {
	case cc = <-closeCode:
	case <-time.After(5 * time.Second):
	}
	att := <-attached
	r.note("/metrics lists %d session ids, the victim's: %v; attacker's attach ended %s with %d of the victim's results; its CloseSession: %s",
		len(ids), leaked, att, stolen.Load(), cc)
	r.pass = !leaked && stolen.Load() == 0 && cc != "OK" && got == n
	return nil
}

// Case 4. The victim sets its session's shared data (market-data, and a
// second entry); the attacker, another key holder, tries to overwrite it
// at level MaxUint32, read it, delete the second entry and claim the
// victim's next id. Then the victim reads and updates its data.
func case4(ctx context.Context, h *harness, r *row) error {
	cc, err := h.cc(ctx, r)
	if err != nil {
		return err
	}
	defer cc.stop()
	conn, err := dial(cc.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := pb.NewCacheClient(conn)
	r.cc[0] = cc.rss()
	id, id2, next := h.victimTenant+"s1", h.victimTenant+"s2", h.victimTenant+"s3"
	for _, sid := range []string{id, id2} {
		if _, err := c.SetSharedData(as(ctx, h.victimKey), &pb.SharedData{SessionId: sid, Payload: []byte("market-data")}); err != nil {
			return fmt.Errorf("victim's Set: %w", err)
		}
	}
	maxLevel := uint32(math.MaxUint32)
	ops := []struct {
		name string
		err  func() error
	}{
		{"Update@MaxUint32", func() error {
			_, err := c.UpdateSharedData(as(ctx, h.attackerKey), &pb.SharedData{SessionId: id, UpdateLevel: &maxLevel, Payload: []byte("EVIL-market-data")})
			return err
		}},
		{"Get", func() error {
			_, err := c.GetSharedData(as(ctx, h.attackerKey), &pb.SharedData{SessionId: id})
			return err
		}},
		{"Delete", func() error {
			_, err := c.DeleteSharedData(as(ctx, h.attackerKey), &pb.SharedData{SessionId: id2})
			return err
		}},
		{"Set(victim's next id)", func() error {
			_, err := c.SetSharedData(as(ctx, h.attackerKey), &pb.SharedData{SessionId: next, Payload: []byte("squat")})
			return err
		}},
	}
	won := 0
	var codes []string
	for _, op := range ops {
		err := op.err()
		if err == nil {
			won++
		}
		codes = append(codes, op.name+" "+code(err))
	}
	d, gerr := c.GetSharedData(as(ctx, h.victimKey), &pb.SharedData{SessionId: id})
	_, uerr := c.UpdateSharedData(as(ctx, h.victimKey), &pb.SharedData{SessionId: id, Payload: []byte("market-data-2")})
	_, g2err := c.GetSharedData(as(ctx, h.victimKey), &pb.SharedData{SessionId: id2})
	_, serr := c.SetSharedData(as(ctx, h.victimKey), &pb.SharedData{SessionId: next, Payload: []byte("mine")})
	r.cc[1] = cc.rss()
	r.victim = fmt.Sprintf("reads %q, update %s, 2nd entry %s, next id %s", d.GetPayload(), code(uerr), code(g2err), code(serr))
	r.note("attacker's ops that succeeded: %d of %d (%s)", won, len(ops), strings.Join(codes, ", "))
	r.pass = won == 0 && gerr == nil && string(d.GetPayload()) == "market-data" && uerr == nil && g2err == nil && serr == nil
	return nil
}

// Case 5. The victim's session id, with requireClientID; the queue manager
// restarts; the attacker creates that id first; the victim re-creates it
// (the SDK's recovery) and runs 5 tasks.
func case5(ctx context.Context, h *harness, r *row) error {
	s, err := h.startQM(ctx, r, "requireClientID", "true")
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	want := &pb.Session{Id: "victim-session", App: &pb.App{Id: "victim"}, Attributes: &pb.SessionAttributes{ClientId: "alice"}}
	if h.tenants {
		want.Id = h.victimTenant + "victim-session"
	}
	v, err := s.q.CreateSession(as(ctx, h.victimKey, "clientid", "alice"), want)
	if err != nil {
		return fmt.Errorf("victim's session: %w", err)
	}
	// Restart on the same addresses.
	addr, httpAddr := s.qm.addr, s.qm.http
	s.qm.stop()
	qm, err := h.qmAt(ctx, r, addr, httpAddr, "requireClientID", "true")
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	s.qm = qm
	s.stop = append(s.stop, qm.stop)
	_, aerr := s.q.CreateSession(as(ctx, h.attackerKey, "clientid", "mallory"),
		&pb.Session{Id: v.Id, App: &pb.App{Id: "attacker"}, Attributes: &pb.SessionAttributes{ClientId: "mallory"}})
	_, verr := s.q.CreateSession(as(ctx, h.victimKey, "clientid", "alice"), want)
	if err := h.echoWorker(s, ""); err != nil {
		return err
	}
	got, rerr := submit(ctx, s.q, h.victimKey, v.Id, 5, h.victimDeadline, "clientid", "alice")
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("re-create %s; %d of 5 results (%s)", code(verr), got, code(rerr))
	r.note("attacker's CreateSession of the victim's id %q after the restart: %s", v.Id, code(aerr))
	r.pass = aerr != nil && verr == nil && got == 5
	return nil
}

// Case 6a. maxSessionsPerClient 100; the attacker creates 2,000 sessions,
// each under a fresh client_id (where that is refused, without one).
func case6a(ctx context.Context, h *harness, r *row) error {
	const limit, n = 100, 2000
	s, err := h.startQM(ctx, r, "maxSessionsPerClient", fmt.Sprint(limit))
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	made, fresh := 0, 0
	refusals := map[string]int{}
	for i := range n {
		_, err := s.q.CreateSession(as(ctx, h.attackerKey), &pb.Session{App: &pb.App{Id: "attacker"},
			Attributes: &pb.SessionAttributes{ClientId: fmt.Sprintf("fresh-%d", i)}})
		if err == nil {
			made++
			fresh++
			continue
		}
		refusals[code(err)]++
		if refused(err, codes.PermissionDenied) {
			if _, err = s.q.CreateSession(as(ctx, h.attackerKey), &pb.Session{App: &pb.App{Id: "attacker"}}); err == nil {
				made++
				continue
			}
			refusals["then "+code(err)]++
		}
	}
	if err := h.echoWorker(s, ""); err != nil {
		return err
	}
	got, verr := victim(ctx, s.q, h.victimKey, nil, 5, h.victimDeadline)
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("%d of 5 results (%s)", got, code(verr))
	r.note("attacker opened %d of %d sessions (%d under fresh client_ids), maxSessionsPerClient %d; refusals %v", made, n, fresh, limit, refusals)
	r.pass = made <= limit && got == 5
	return nil
}

// Case 6b. Sessions whose tags hold 8 MB each.
func case6b(ctx context.Context, h *harness, r *row) error {
	const n = 20
	s, err := h.startQM(ctx, r)
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	tag := strings.Repeat("t", 8<<20)
	made := 0
	var last error
	var half int64
	for i := range n {
		if i == n/2 {
			half = s.qm.rss()
		}
		_, err := s.q.CreateSession(as(ctx, h.attackerKey), &pb.Session{App: &pb.App{Id: "attacker"}, Attributes: &pb.SessionAttributes{Tags: []string{tag}}})
		if err == nil {
			made++
		} else {
			last = err
		}
	}
	if err := h.echoWorker(s, ""); err != nil {
		return err
	}
	got, verr := victim(ctx, s.q, h.victimKey, nil, 5, h.victimDeadline)
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("%d of 5 results (%s)", got, code(verr))
	grew := bounded(r, half, r.qm[1], n-n/2, 8<<20)
	r.note("attacker's sessions with an 8 MB tag accepted: %d of %d (refusal: %s)", made, n, code(last))
	r.pass = made == 0 && got == 5 && grew
	return nil
}

// bounded reports whether RSS stayed put over the second half of an
// attack of n sends of size bytes each (less than half of them
// retained), and notes the growth. Over the first half the heap and gRPC's
// buffer pools reach their working size, garbage included, which says
// little: an unbounded server keeps growing by what it is sent.
func bounded(r *row, half, end int64, n int, size int64) bool {
	r.note("RSS over the attack's second half: %+d MB for %d MB sent", (end-half)>>20, int64(n)*size>>20)
	return end-half < int64(n)*size/2
}

// Case 6c. One session is sent 32 MB task batches. A byte budget (64 MiB
// a session, 128 MiB in all, set here: the defaults are 1 GiB and 8 GiB)
// must slow the sender, not hold them all: first with no worker (the tasks
// wait queued), then with a worker echoing them while the attacker does not
// read its results.
func case6c(ctx context.Context, h *harness, r *row) error {
	n := 20
	if !h.full {
		n = 12
	}
	s, err := h.startQM(ctx, r, "maxSessionBytes", "64MiB", "maxQueuedBytes", "128MiB")
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	actx, stopAttack := context.WithCancel(ctx)
	defer stopAttack()
	a, st, err := h.attackerStream(actx, s, nil)
	if err != nil {
		return err
	}
	payload := make([]byte, 32<<20)
	var sent atomic.Int64
	go func() {
		for i := range n {
			b := &pb.Batch{SessionId: a.Id, Messages: []*pb.Message{{Id: fmt.Sprint("big", i), Payload: payload}}}
			if st.Send(b) != nil {
				return
			}
			sent.Add(1)
		}
	}()
	// Flow control shows as sends that stop returning; wait for all, or
	// for the queue manager to stop taking them.
	stalled(ctx, 15*time.Second, 2*time.Second, func() int64 { return sent.Load() })
	queuedSent, queuedRSS := sent.Load(), s.qm.rss()
	if err := h.echoWorker(s, ""); err != nil {
		return err
	}
	// The worker echoes the 32 MB tasks; the attacker reads no result.
	stalled(ctx, 20*time.Second, 2*time.Second, func() int64 { return sent.Load() })
	workedSent, workedRSS := sent.Load(), s.qm.rss()
	got, verr := victim(ctx, s.q, h.victimKey, &pb.SessionAttributes{Priority: 5}, 5, h.victimDeadline)
	r.qm[1] = s.qm.rss()
	stopAttack()
	r.victim = fmt.Sprintf("%d of 5 results (%s)", got, code(verr))
	r.note("no worker: %d of %d 32 MB batches sent, RSS %+d MB; with a worker, results unread: %d sent, RSS %+d MB; budget 64 MiB a session",
		queuedSent, n, (queuedRSS-r.qm[0])>>20, workedSent, (workedRSS-r.qm[0])>>20)
	// Bounded: the sender is slowed before it sent everything, and the
	// queue manager's growth is a multiple of the session budget, not of
	// what was sent: a held batch lives as the task and its result, the
	// heap may double before a collection (GOGC 100), and transport
	// buffers hold a batch or two more.
	const limit = 6 * 64 << 20
	r.pass = got == 5 && queuedSent < int64(n) && workedSent < int64(n) && queuedRSS-r.qm[0] < limit && workedRSS-r.qm[0] < limit
	return nil
}

// Case 6d. The attacker sets 24 entries of 16 MB in the central cache
// (maxBytes 64 MiB here; the default is 4 GiB).
func case6d(ctx context.Context, h *harness, r *row) error {
	const n, budget = 24, 64 << 20
	cc, err := h.cc(ctx, r, "maxBytes", "64MiB")
	if err != nil {
		return err
	}
	defer cc.stop()
	conn, err := dial(cc.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := pb.NewCacheClient(conn)
	r.cc[0] = cc.rss()
	payload := make([]byte, 16<<20)
	stored := 0
	var last error
	var half int64
	for i := range n {
		if i == n/2 {
			half = cc.rss()
		}
		_, err := c.SetSharedData(as(ctx, h.attackerKey), &pb.SharedData{SessionId: fmt.Sprintf("%sbig-%d", h.attackerTenant, i), Payload: payload})
		if err == nil {
			stored++
		} else {
			last = err
		}
	}
	_, verr := c.SetSharedData(as(ctx, h.victimKey), &pb.SharedData{SessionId: h.victimTenant + "s1", Payload: []byte("market-data")})
	r.cc[1] = cc.rss()
	r.victim = "its 11-byte Set: " + code(verr)
	r.note("attacker stored %d of %d 16 MB entries (refusal: %s)", stored, n, code(last))
	grew := bounded(r, half, r.cc[1], n-n/2, 16<<20)
	r.pass = int64(stored)*16<<20 <= budget && grew
	return nil
}

// Case 7a. The attacker opens idle ClientStreams (no session, no batch)
// past the stream limits; then a victim and its worker need streams.
func case7a(ctx context.Context, h *harness, r *row) error {
	// 1,000 past maxStreams, so that refusals show the limit was reached
	// before the victim comes.
	n, maxStreams, perTenant := 6000, 5000, 1000
	if h.full {
		n, maxStreams, perTenant = 51000, 50000, 10000
	}
	s, err := h.startQM(ctx, r, "maxStreams", fmt.Sprint(maxStreams), "maxStreamsPerTenant", fmt.Sprint(perTenant))
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	actx, stopAttack := context.WithCancel(ctx)
	defer stopAttack()
	var failed atomic.Int64
	conns := []*grpc.ClientConn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var q pb.QueueClient
	for i := range n {
		if i%5000 == 0 {
			c, err := dial(s.qm.addr)
			if err != nil {
				return err
			}
			conns = append(conns, c)
			q = pb.NewQueueClient(c)
		}
		st, err := q.ClientStream(as(actx, h.attackerKey))
		if err != nil {
			failed.Add(1)
			continue
		}
		go func() {
			if _, err := st.Recv(); err != nil && actx.Err() == nil {
				failed.Add(1)
			}
		}()
	}
	limit := maxStreams
	if h.tenants {
		limit = perTenant
	}
	// The streams past the limit are refused; wait for those refusals.
	waitUntil(ctx, 15*time.Second, func() bool { return failed.Load() >= int64(n-limit) })
	if err := h.echoWorker(s, ""); err != nil {
		return err
	}
	got, verr := victim(ctx, s.q, h.victimKey, nil, 5, h.victimDeadline)
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("%d of 5 results (%s)", got, code(verr))
	r.note("attacker opened %d idle streams, %d refused (maxStreams %d, maxStreamsPerTenant %d)", n, failed.Load(), maxStreams, perTenant)
	if !h.full {
		r.note("scaled from the issue's 50,000 streams against maxStreams 50,000 (-full: 51,000) by setting maxStreams")
	}
	r.pass = got == 5
	return nil
}

// Case 7b. Unauthenticated health Watch streams.
func case7b(ctx context.Context, h *harness, r *row) error {
	n := 3000
	if h.full {
		n = 30000
	}
	s, err := h.startQM(ctx, r)
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	actx, stopAttack := context.WithCancel(ctx)
	defer stopAttack()
	var served, refusedN atomic.Int64
	conns := []*grpc.ClientConn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var hc healthpb.HealthClient
	for i := range n {
		if i%5000 == 0 {
			c, err := dial(s.qm.addr)
			if err != nil {
				return err
			}
			conns = append(conns, c)
			hc = healthpb.NewHealthClient(c)
		}
		go func() {
			w, err := hc.Watch(actx, &healthpb.HealthCheckRequest{})
			if err == nil {
				_, err = w.Recv()
			}
			if err == nil {
				served.Add(1)
				_, _ = w.Recv() // hold it open
				return
			}
			if actx.Err() == nil {
				refusedN.Add(1)
			}
		}()
	}
	waitUntil(ctx, 20*time.Second, func() bool { return served.Load()+refusedN.Load() >= int64(n) })
	if err := h.echoWorker(s, ""); err != nil {
		return err
	}
	got, verr := victim(ctx, s.q, h.victimKey, nil, 5, h.victimDeadline)
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("%d of 5 results (%s)", got, code(verr))
	r.note("%d health watches: %d served, %d refused", n, served.Load(), refusedN.Load())
	if !h.full {
		r.note("scaled from the issue's 30,000 watches (-full)")
	}
	r.pass = got == 5 && served.Load() < int64(n) && r.qm[1]-r.qm[0] < 100<<20
	return nil
}

// Case 8. A priority-0 session that asks for min_workers=1000 with 10,000
// tasks of 20 ms, and a priority-10 session with 6 tasks, both waiting;
// then four workers start. (A session that already holds every worker
// keeps them while it has work, whatever its min_workers: preemption is
// off by default, docs/design.md "Scheduling". That is not this case.)
func case8(ctx context.Context, h *harness, r *row) error {
	s, err := h.startQM(ctx, r)
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	actx, stopAttack := context.WithCancel(ctx)
	defer stopAttack()
	minW := uint32(1000)
	a, st, err := h.attackerStream(actx, s, &pb.SessionAttributes{Priority: 0, MinWorkers: &minW})
	if err != nil {
		return err
	}
	for i := range 500 {
		if err := st.Send(tasks(a.Id, fmt.Sprint("a", i), 20)); err != nil {
			return err
		}
	}
	var done atomic.Int64
	go func() {
		for {
			b, err := st.Recv()
			if err != nil {
				return
			}
			done.Add(int64(len(b.Messages)))
		}
	}()
	v, err := s.q.CreateSession(as(ctx, h.victimKey), &pb.Session{App: &pb.App{Id: "victim"}, Attributes: &pb.SessionAttributes{Priority: 10}})
	if err != nil {
		return err
	}
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	vs, err := s.q.ClientStream(as(vctx, h.victimKey, "sessionid", v.Id))
	if err != nil {
		return err
	}
	if err := vs.Send(tasks(v.Id, "v", 6)); err != nil {
		return err
	}
	if err := vs.CloseSend(); err != nil {
		return err
	}
	waitUntil(ctx, 2*time.Second, func() bool {
		return metric(ctx, s.qm.http, `alpcrun_tasks_total{outcome="accepted"}`) >= 10006
	})
	for range 4 {
		if err := h.echoWorker(s, "sleep:20ms"); err != nil {
			return err
		}
	}
	t0 := time.Now()
	got, verr := results(vs, 6, h.victimDeadline)
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("%d of 6 results in %.1fs (%s)", got, time.Since(t0).Seconds(), code(verr))
	r.note("attacker: min_workers=1000, priority 0, 10,000 tasks of 20 ms; 4 workers; %d of its tasks done when the victim finished", done.Load())
	r.pass = got == 6
	return nil
}

// Case 9. The attacker's client key registers as a worker before the
// victim's session exists; the victim sends 5 tasks; then an operator's
// worker starts.
func case9(ctx context.Context, h *harness, r *row) error {
	s, err := h.startQM(ctx, r)
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	actx, stopAttack := context.WithCancel(ctx)
	defer stopAttack()
	spy, aerr := newRawWorker(actx, s.q, h.attackerKey, func(string, *pb.Batch) (*pb.Batch, time.Duration) { return nil, 0 })
	v, err := s.q.CreateSession(as(ctx, h.victimKey), &pb.Session{App: &pb.App{Id: "victim"}})
	if err != nil {
		return err
	}
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	vs, err := s.q.ClientStream(as(vctx, h.victimKey, "sessionid", v.Id))
	if err != nil {
		return err
	}
	b := tasks(v.Id, "secret", 5)
	if err := vs.Send(b); err != nil {
		return err
	}
	if err := vs.CloseSend(); err != nil {
		return err
	}
	read := int64(0)
	if aerr == nil {
		waitUntil(ctx, 5*time.Second, func() bool { return spy.payloads.Load() >= 5 })
		read = spy.payloads.Load()
	}
	if err := h.echoWorker(s, ""); err != nil {
		return err
	}
	got, verr := results(vs, 5, h.victimDeadline)
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("%d of 5 results (%s)", got, code(verr))
	r.note("attacker's WorkerUpdate with a client key: %s; it read %d of the victim's payloads and held them", code(aerr), read)
	r.pass = aerr != nil && read == 0 && got == 5
	return nil
}

// Case 10a. Profiles on the metrics port: /debug/pprof/ and
// /debug/fgprof answer there? And a victim's CreateSession p99 while 8
// fgprof profiles run against the port, against its p99 without them.
func case10a(ctx context.Context, h *harness, r *row) error {
	debug, err := freePort()
	if err != nil {
		return err
	}
	s, err := h.startQM(ctx, r, "debugListen", debug)
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	codesAt := func(addr string) (pprof, fgprof int) {
		pprof, _, _ = get(ctx, "http://"+addr+"/debug/pprof/")
		fgprof, _, _ = get(ctx, "http://"+addr+"/debug/fgprof?seconds=1")
		return pprof, fgprof
	}
	mp, mf := codesAt(s.qm.http)
	calls := 300
	if h.full {
		calls = 1000
	}
	p99 := func() time.Duration {
		lat := make([]time.Duration, calls)
		for i := range lat {
			t0 := time.Now()
			if _, err := s.q.CreateSession(as(ctx, h.victimKey), &pb.Session{App: &pb.App{Id: "victim"}}); err != nil {
				return -1
			}
			lat[i] = time.Since(t0)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return lat[len(lat)*99/100]
	}
	quiet := p99()
	pctx, stopProfiles := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for pctx.Err() == nil {
				if code, _, _ := get(pctx, "http://"+s.qm.http+"/debug/fgprof?seconds=2"); code != 200 {
					return
				}
			}
		})
	}
	loaded := p99()
	stopProfiles()
	wg.Wait()
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("CreateSession p99 %.1f ms, %.1f ms under 8 fgprof", ms(quiet), ms(loaded))
	r.note("metrics port: /debug/pprof/ %d, /debug/fgprof %d", mp, mf)
	if h.qmFlags["debugListen"] {
		dp, df := codesAt(debug)
		r.note("debugListen: /debug/pprof/ %d, /debug/fgprof %d", dp, df)
	}
	r.pass = mp == 404 && mf == 404
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Case 10b. Four client streams of one session, the first with a batch of
// one task, all half-closed; then a worker answers the task. Every stream
// must end.
func case10b(ctx context.Context, h *harness, r *row) error {
	s, err := h.startQM(ctx, r)
	if err != nil {
		return err
	}
	defer s.close()
	r.qm[0] = s.qm.rss()
	v, err := s.q.CreateSession(as(ctx, h.victimKey), &pb.Session{App: &pb.App{Id: "victim"}})
	if err != nil {
		return err
	}
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const n = 4
	var streams []pb.Queue_ClientStreamClient
	for i := range n {
		st, err := s.q.ClientStream(as(vctx, h.victimKey, "sessionid", v.Id))
		if err != nil {
			return err
		}
		if i == 0 {
			if err := st.Send(tasks(v.Id, "x", 1)); err != nil {
				return err
			}
		}
		streams = append(streams, st)
	}
	for _, st := range streams {
		if err := st.CloseSend(); err != nil {
			return err
		}
	}
	if err := h.echoWorker(s, ""); err != nil {
		return err
	}
	endedCh := make(chan error, n)
	for _, st := range streams {
		go func() {
			for {
				if _, err := st.Recv(); err != nil {
					endedCh <- err
					return
				}
			}
		}()
	}
	ended := 0
	deadline := time.After(h.victimDeadline)
wait:
	for ended < n {
		select {
		case err := <-endedCh:
			if err == io.EOF {
				ended++
			}
		case <-deadline:
			break wait
		}
	}
	r.qm[1] = s.qm.rss()
	r.victim = fmt.Sprintf("%d of %d half-closed streams ended", ended, n)
	r.pass = ended == n
	return nil
}
