package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// The attackers and victims speak the wire through the generated stubs,
// not the SDKs: an attacker does what the protocol lets it, not what the
// SDK would do.

// dial opens a plaintext loopback connection that takes large messages
// both ways (case 6 sends 32 MB batches).
func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)))
}

// as returns ctx with the API key and further metadata pairs.
func as(ctx context.Context, key string, kv ...string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, append([]string{"api_key", key}, kv...)...)
}

// code is the gRPC code of err, for the rows.
func code(err error) string {
	if err == nil {
		return "OK"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return status.Code(err).String()
}

// tasks is a batch of n tasks of the session with payloads prefix-i.
func tasks(sessionID, prefix string, n int) *pb.Batch {
	b := &pb.Batch{SessionId: sessionID}
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		b.Messages = append(b.Messages, &pb.Message{Id: id, Payload: []byte(id)})
	}
	return b
}

// results counts the answered tasks (no error) on a client stream until
// want of them came, the stream ended, or limit passed. The stream's
// context must end with the caller, so a stream left blocked is freed.
func results(st pb.Queue_ClientStreamClient, want int, limit time.Duration) (got int, err error) {
	type rcv struct {
		b   *pb.Batch
		err error
	}
	ch := make(chan rcv, 1)
	go func() {
		for {
			b, err := st.Recv()
			ch <- rcv{b, err}
			if err != nil {
				return
			}
		}
	}()
	deadline := time.After(limit)
	for got < want {
		select {
		case r := <-ch:
			if r.err == io.EOF {
				return got, nil
			}
			if r.err != nil {
				return got, r.err
			}
			for _, m := range r.b.Messages {
				if m.Error == "" {
					got++
				}
			}
		case <-deadline:
			return got, context.DeadlineExceeded
		}
	}
	return got, nil
}

// victim creates a session as key with attrs, sends n tasks in one batch,
// half-closes and counts the results that come within limit.
func victim(ctx context.Context, q pb.QueueClient, key string, attrs *pb.SessionAttributes, n int, limit time.Duration) (got int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := q.CreateSession(as(ctx, key), &pb.Session{App: &pb.App{Id: "victim"}, Attributes: attrs})
	if err != nil {
		return 0, fmt.Errorf("victim's CreateSession: %w", err)
	}
	return submit(ctx, q, key, s.Id, n, limit)
}

// submit sends n tasks to session id on a new client stream, half-closes
// and counts the results that come within limit.
func submit(ctx context.Context, q pb.QueueClient, key, id string, n int, limit time.Duration, kv ...string) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := q.ClientStream(as(ctx, key, append([]string{"sessionid", id}, kv...)...))
	if err != nil {
		return 0, err
	}
	if err := st.Send(tasks(id, "v", n)); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	if err := st.CloseSend(); err != nil {
		return 0, err
	}
	return results(st, n, limit)
}

// rawWorker is a worker speaking the wire: it registers, heartbeats every
// second, follows BIND and hands each batch to handle, which returns the
// answer (nil: the batch is held, never answered) and how long to wait
// before sending it.
type rawWorker struct {
	q        pb.QueueClient
	ctx      context.Context
	key      string
	id       string
	handle   func(sessionID string, b *pb.Batch) (*pb.Batch, time.Duration)
	received atomic.Int64 // task batches received
	payloads atomic.Int64 // task payloads read
	bound    chan string  // the sessions it was bound to, in order

	mu    sync.Mutex // serialises sends on ctl
	ctl   pb.Queue_WorkerUpdateClient
	state *pb.WorkerState
}

// newRawWorker registers a worker with key. A refused registration returns
// the server's status.
func newRawWorker(ctx context.Context, q pb.QueueClient, key string, handle func(string, *pb.Batch) (*pb.Batch, time.Duration)) (*rawWorker, error) {
	w := &rawWorker{q: q, ctx: ctx, key: key, handle: handle, bound: make(chan string, 64)}
	ctl, err := q.WorkerUpdate(as(ctx, key, "node", "hostile", "pod", "hostile"))
	if err != nil {
		return nil, err
	}
	hdr, err := ctl.Header()
	if err == nil && len(hdr.Get("workerid")) == 0 {
		_, err = ctl.Recv() // refused before it started: the status comes here
		if err == nil {
			err = errors.New("no workerid header")
		}
	}
	if err != nil {
		return nil, err
	}
	w.id, w.ctl = hdr.Get("workerid")[0], ctl
	w.state = &pb.WorkerState{WorkerId: w.id, State: pb.WorkerState_IDLE}
	if err := w.report(pb.WorkerState_IDLE, ""); err != nil {
		return nil, err
	}
	go w.heartbeat()
	go w.follow()
	return w, nil
}

func (w *rawWorker) report(s pb.WorkerState_State, session string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s != pb.WorkerState_STATE_UNSPECIFIED {
		w.state.State, w.state.SessionId = s, session
	}
	return w.ctl.Send(w.state)
}

func (w *rawWorker) heartbeat() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
			if w.report(pb.WorkerState_STATE_UNSPECIFIED, "") != nil {
				return
			}
		}
	}
}

func (w *rawWorker) follow() {
	for {
		in, err := w.ctl.Recv()
		if err != nil {
			return
		}
		if in.Type == pb.Instruction_BIND {
			select {
			case w.bound <- in.SessionId:
			default:
			}
			go w.serve(in.SessionId)
		}
	}
}

// serve runs one WorkerStream of the session until it ends.
func (w *rawWorker) serve(sessionID string) {
	st, err := w.q.WorkerStream(as(w.ctx, w.key, "workerid", w.id, "sessionid", sessionID))
	if err != nil {
		return
	}
	_ = w.report(pb.WorkerState_BOUND, sessionID)
	var mu sync.Mutex // serialises sends on st
	for {
		b, err := st.Recv()
		if err != nil {
			_ = w.report(pb.WorkerState_IDLE, "")
			return
		}
		if b.Revoke != pb.Batch_REVOKE_UNSPECIFIED {
			continue
		}
		w.received.Add(1)
		w.payloads.Add(int64(len(b.Messages)))
		ans, delay := w.handle(sessionID, b)
		if ans == nil {
			continue
		}
		send := func() {
			mu.Lock()
			defer mu.Unlock()
			_ = st.Send(ans)
		}
		if delay == 0 {
			send()
		} else {
			time.AfterFunc(delay, send)
		}
	}
}

// echo answers every task with its payload.
func echo(b *pb.Batch) *pb.Batch {
	out := &pb.Batch{Id: b.Id, SessionId: b.SessionId}
	for _, m := range b.Messages {
		out.Messages = append(out.Messages, &pb.Message{Id: m.Id, Payload: m.Payload})
	}
	return out
}

// fail answers every task with an error.
func fail(b *pb.Batch) *pb.Batch {
	out := &pb.Batch{Id: b.Id, SessionId: b.SessionId}
	for _, m := range b.Messages {
		out.Messages = append(out.Messages, &pb.Message{Id: m.Id, Error: "boom"})
	}
	return out
}

// get fetches an HTTP URL with a deadline; it returns the status code and
// body.
func get(ctx context.Context, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metric is the value of one sample of the Prometheus text at
// http://addr/metrics, e.g. `alpcrun_tasks_total{outcome="dead"}`; 0 when
// absent.
func metric(ctx context.Context, addr, sample string) float64 {
	_, body, err := get(ctx, "http://"+addr+"/metrics")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// waitUntil polls ok every 20 ms until it holds or limit passes; it
// reports whether it held.
func waitUntil(ctx context.Context, limit time.Duration, ok func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			return ok()
		case <-t.C:
		}
	}
	return true
}

// stalled polls progress every 20 ms until it stops changing for quiet
// (the sender is flow-controlled, or done) or limit passes.
func stalled(ctx context.Context, limit, quiet time.Duration, progress func() int64) {
	last, since := progress(), time.Now()
	waitUntil(ctx, limit, func() bool {
		if p := progress(); p != last {
			last, since = p, time.Now()
		}
		return time.Since(since) >= quiet
	})
}

// refused reports whether err is the code c.
func refused(err error, c codes.Code) bool { return status.Code(err) == c }
