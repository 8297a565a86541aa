package centralcache

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadConfig(t *testing.T) {
	_, err := LoadConfig(flag.NewFlagSet("cc", flag.ContinueOnError),
		[]string{"--maxTTL", "0s", "--maxPayload", "3GiB"}, env(map[string]string{"ALPCRUNCH_CLEANUPINTERVAL": "-1s"}))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, key := range []string{"maxTTL", "maxPayload", "cleanupInterval"} {
		if !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	cfg, err := LoadConfig(flag.NewFlagSet("cc", flag.ContinueOnError), nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":2337" || cfg.HTTPListen != ":2338" || cfg.MaxTTL.Seconds() != 600 ||
		cfg.CleanupInterval.Seconds() != 1 || cfg.MaxPayload != 64<<20 {
		t.Fatalf("defaults %+v", cfg)
	}
	cfg, err = LoadConfig(flag.NewFlagSet("cc", flag.ContinueOnError), []string{"--maxPayload", "1GiB"},
		env(map[string]string{"ALPCRUNCH_MAXTTL": "1h"}))
	if err != nil || cfg.MaxPayload != 1<<30 || cfg.MaxTTL.Hours() != 1 {
		t.Fatalf("config %+v, %v", cfg, err)
	}
}

// TestRun serves a central cache as the main does, with an API key, and
// checks the raised message limit, health and reflection.
func TestRun(t *testing.T) {
	t.Setenv("METALCORE_API_KEY", "sesame")
	cfg := DefaultOptions()
	cfg.Listen, cfg.HTTPListen, cfg.MaxPayload = "127.0.0.1:0", "", 8<<20
	ctx := servicetest.Context(t)
	addr := servicetest.RunUntilReady(t, func(ctx context.Context, ready chan<- string) error { return Run(ctx, cfg, ready) })
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(16<<20), grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := pb.NewCacheClient(cc)
	req := &pb.SharedData{SessionId: "s", Payload: make([]byte, 8<<20)}
	_, err = c.SetSharedData(ctx, req)
	servicetest.WantCode(t, err, codes.Unauthenticated)
	_, err = c.SetSharedData(metadata.AppendToOutgoingContext(ctx, "api_key", "open"), req)
	servicetest.WantCode(t, err, codes.PermissionDenied)
	kctx := metadata.AppendToOutgoingContext(ctx, "api_key", "sesame")
	if _, err := c.SetSharedData(kctx, req); err != nil {
		t.Fatalf("Set of maxPayload bytes (over gRPC's default 4 MiB): %v", err)
	}
	req.Payload = append(req.Payload, 0)
	_, err = c.UpdateSharedData(kctx, req)
	servicetest.WantCode(t, err, codes.InvalidArgument)
	if d, err := c.GetSharedData(kctx, &pb.SharedData{SessionId: "s"}); err != nil || len(d.Payload) != 8<<20 {
		t.Fatalf("Get: %v", err)
	}
	h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	rs, err := reflectpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "alpcrun.v1.Cache") {
		t.Fatalf("reflection lists %v", names)
	}
}

func TestMetricsNames(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := servicetest.Context(t)
	if _, err := ts.c.SetSharedData(ctx, data("s", nil, "12345", 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.c.GetSharedData(ctx, data("s", nil, "", 0)); err != nil {
		t.Fatal(err)
	}
	_, _ = ts.c.GetSharedData(ctx, data("t", nil, "", 0))
	got := gather(t, ts.reg)
	for _, want := range []string{
		`alpcrun_cache_requests_total{result="hit",tier="central"} 1`,
		`alpcrun_cache_requests_total{result="miss",tier="central"} 1`,
		`alpcrun_cache_bytes{tier="central"} 5`,
		`alpcrun_cache_entries{tier="central"} 1`,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("metrics lack %s; have %v", want, got)
		}
	}
}

// gather renders reg's series as name{labels} value lines.
func gather(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out = append(out, mf.GetName()+"{"+strings.Join(labels, ",")+"} "+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	return out
}

// New takes no zero value for a default: it names every bad option.
func TestNewReportsEveryBadOption(t *testing.T) {
	_, err := New(Options{Common: DefaultOptions().Common})
	for _, key := range []string{"maxTTL", "cleanupInterval", "maxPayload"} {
		if err == nil || !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

// Shared data belongs to the tenant of the key that set it: another
// tenant's key can neither update nor delete it (nor exhaust its levels),
// nor read it, nor claim an id of the tenant's before it does; a worker
// key without a tenant (a pool shared by every tenant) only reads.
func TestSharedDataOwners(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("alice tenant=alice roles=client\nbob tenant=bob roles=client\nw roles=worker\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultOptions()
	cfg.Listen, cfg.HTTPListen, cfg.APIKeyFile = "127.0.0.1:0", "", keys
	c := pb.NewCacheClient(servicetest.Dial(t, servicetest.RunUntilReady(t, func(ctx context.Context, ready chan<- string) error { return Run(ctx, cfg, ready) })))
	ctx := servicetest.Context(t)
	as := func(key string) context.Context { return metadata.AppendToOutgoingContext(ctx, "api_key", key) }
	if _, err := c.SetSharedData(as("alice"), data("alice:s", nil, "market", 0)); err != nil {
		t.Fatal(err)
	}
	_, err := c.UpdateSharedData(as("bob"), data("alice:s", level(1<<32-1), "EVIL", 0))
	servicetest.WantCode(t, err, codes.PermissionDenied)
	_, err = c.DeleteSharedData(as("bob"), data("alice:s", nil, "", 0))
	servicetest.WantCode(t, err, codes.PermissionDenied)
	_, err = c.GetSharedData(as("bob"), data("alice:s", nil, "", 0))
	servicetest.WantCode(t, err, codes.PermissionDenied)
	_, err = c.SetSharedData(as("bob"), data("alice:next", nil, "squat", 0))
	servicetest.WantCode(t, err, codes.PermissionDenied)
	_, err = c.SetSharedData(as("alice"), data("s", nil, "untenanted", 0))
	servicetest.WantCode(t, err, codes.PermissionDenied)
	_, err = c.SetSharedData(as("w"), data("t", nil, "x", 0))
	servicetest.WantCode(t, err, codes.PermissionDenied)
	d, err := c.GetSharedData(as("w"), data("alice:s", nil, "", 0))
	if err != nil || string(d.Payload) != "market" {
		t.Fatalf("a worker reads %v, %v", d, err)
	}
	if _, err := c.UpdateSharedData(as("alice"), data("alice:s", nil, "market2", 0)); err != nil {
		t.Fatalf("the owner updates: %v", err)
	}
}
