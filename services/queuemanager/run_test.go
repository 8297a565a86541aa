package queuemanager

import (
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

func TestLoadConfigNamesEveryBadKey(t *testing.T) {
	env := map[string]string{"ALPCRUNCH_QUEUETYPE": "nope", "ALPCRUNCH_WORKERTIMEOUT": "-1s"}
	_, err := LoadConfig(flag.NewFlagSet("qm", flag.ContinueOnError),
		[]string{"--bufferSize", "0", "--scheduler", "lottery"},
		func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, key := range []string{"queueType", "workerTimeout", "bufferSize", "scheduler"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	cfg, err := LoadConfig(flag.NewFlagSet("qm", flag.ContinueOnError), []string{"--queueType", "lockfree"},
		func(k string) (string, bool) {
			return map[string]string{"ALPCRUNCH_BUFFERSIZE": "64"}[k], k == "ALPCRUNCH_BUFFERSIZE"
		})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BufferSize != 64 || cfg.QueueType != "lockfree" || cfg.Listen != ":1337" || cfg.HTTPListen != ":1338" {
		t.Fatalf("config %+v", cfg)
	}
}

// freeAddr returns a loopback address that was free a moment ago (the
// admin server does not report the port it bound).
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// runServer serves cfg as the main does until the test ends, and returns
// a plaintext connection to its gRPC port.
func runServer(t *testing.T, cfg Options) *grpc.ClientConn {
	t.Helper()
	return servicetest.Dial(t, servicetest.RunUntilReady(t, func(ctx context.Context, ready chan<- string) error { return Run(ctx, cfg, ready) }))
}

// TestRunAuth serves a queue manager as the main does, with an API key, and
// scrapes its HTTP side.
func TestRunAuth(t *testing.T) {
	t.Setenv("METALCORE_API_KEY", "sesame")
	cfg := DefaultOptions()
	cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", freeAddr(t)
	ctx := testCtx(t)
	cc := runServer(t, cfg)
	q := pb.NewQueueClient(cc)
	s := &pb.Session{App: &pb.App{Id: "a"}}
	_, err := q.CreateSession(ctx, s)
	wantCode(t, err, codes.Unauthenticated)
	_, err = q.CreateSession(metadata.AppendToOutgoingContext(ctx, "api_key", "open"), s)
	wantCode(t, err, codes.PermissionDenied)
	st, err := q.ClientStream(metadata.AppendToOutgoingContext(ctx, "api_key", "wrong"))
	if err == nil {
		_, err = st.Recv()
	}
	wantCode(t, err, codes.PermissionDenied)
	if _, err := q.CreateSession(metadata.AppendToOutgoingContext(ctx, "api_key", "sesame"), s); err != nil {
		t.Fatal(err)
	}
	h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without a key: %v %v", h, err)
	}
	for path, want := range map[string][]string{
		"/healthz": nil,
		"/readyz":  nil,
		"/metrics": {`alpcrun_tasks_outstanding{state="queued"} 0`, `alpcrun_tasks_outstanding{state="inflight"} 0`, "alpcrun_sessions ", "alpcrun_workers{state=", "alpcrun_task_latency_seconds_bucket", "alpcrun_scheduler_pass_seconds_bucket", "alpcrun_scheduler_events_total ", "go_goroutines", "alpcrun_build_info{"},
	} {
		resp, err := http.Get("http://" + cfg.HTTPListen + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
}

func TestMetricsNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registerer: reg, SessionMetrics: 1})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	cs := ts.clientStream(t, ctx, s.Id)
	if err := cs.Send(batchOf(s.Id, "a", "b")); err != nil {
		t.Fatal(err)
	}
	w := ts.newRawWorker(t, ctx)
	go serveEcho(w.bindNext(t, s.Id))
	recvIDs(t, cs, 2)
	if err := cs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Recv(); err != io.EOF {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				got[mf.GetName()] = append(got[mf.GetName()], lp.GetName()+"="+lp.GetValue())
			}
			if len(m.Label) == 0 {
				got[mf.GetName()] = append(got[mf.GetName()], "")
			}
		}
	}
	for name, labels := range map[string][]string{
		"alpcrun_queue_depth":          {"queue=task", "queue=result", "queue=dead", "session=" + s.Id},
		"alpcrun_tasks_outstanding":    {"state=queued", "state=inflight"},
		"alpcrun_dispatch_total":       {"event=split", "event=returned"},
		"alpcrun_sessions":             {""},
		"alpcrun_workers":              {"state=bound", "state=idle", "state=draining"},
		"alpcrun_tasks_total":          {"outcome=accepted", "outcome=done"},
		"alpcrun_task_latency_seconds": {""},
	} {
		for _, l := range labels {
			if !slices.Contains(got[name], l) {
				t.Errorf("%s lacks %q (has %v)", name, l, got[name])
			}
		}
	}
}
