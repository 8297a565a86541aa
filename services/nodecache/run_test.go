package nodecache

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/tlstest"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadConfig(t *testing.T) {
	_, err := LoadConfig(flag.NewFlagSet("nc", flag.ContinueOnError),
		[]string{"--centralCacheAddr", "central-cache", "--maxPayload", "0"}, env(map[string]string{"ALPCRUNCH_CLEANUPINTERVAL": "0s"}))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, key := range []string{"centralCacheAddr", "maxPayload", "cleanupInterval"} {
		if !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	cfg, err := LoadConfig(flag.NewFlagSet("nc", flag.ContinueOnError), nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":3337" || cfg.HTTPListen != ":3338" || cfg.CacheSize != 1e9 || cfg.CentralCacheAddr != "localhost:2337" || cfg.MaxPayload != 64<<20 {
		t.Fatalf("defaults %+v", cfg)
	}
	cfg, err = LoadConfig(flag.NewFlagSet("nc", flag.ContinueOnError), []string{"--cacheSize", "2GiB"},
		env(map[string]string{"METALCORE_CENTRAL_CACHE_ADDR": "central-cache:2337"}))
	if err != nil || cfg.CentralCacheAddr != "central-cache:2337" || cfg.CacheSize != 2<<30 {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	cfg, err = LoadConfig(flag.NewFlagSet("nc", flag.ContinueOnError), nil,
		env(map[string]string{"METALCORE_CENTRAL_CACHE_ADDR": "a:1", "ALPCRUNCH_CENTRALCACHEADDR": "b:2"}))
	if err != nil || cfg.CentralCacheAddr != "b:2" {
		t.Fatalf("ALPCRUNCH_ should win over the alias: %+v, %v", cfg, err)
	}
}

// TestRunTLSAndKeys runs both caches as their mains do: the central cache
// serves TLS and wants an API key, and the node cache, serving plaintext,
// reaches it with caCert and the key from METALCORE_API_KEY.
func TestRunTLSAndKeys(t *testing.T) {
	files, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("METALCORE_API_KEY", "sesame")
	ccfg := centralcache.DefaultOptions()
	ccfg.Listen, ccfg.HTTPListen = "127.0.0.1:0", ""
	ccfg.TLS, ccfg.CertFile, ccfg.KeyFile = true, files.ServerCert, files.ServerKey
	centralAddr := servicetest.RunUntilReady(t, func(ctx context.Context, ready chan<- string) error { return centralcache.Run(ctx, ccfg, ready) })

	ncfg := DefaultOptions()
	ncfg.Listen, ncfg.HTTPListen = "127.0.0.1:0", ""
	ncfg.CentralCacheAddr, ncfg.CACert = strings.Replace(centralAddr, "127.0.0.1", "localhost", 1), files.CACert
	nodeAddr := servicetest.RunUntilReady(t, func(ctx context.Context, ready chan<- string) error { return Run(ctx, ncfg, ready) })

	cc, err := grpc.NewClient(nodeAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := pb.NewCacheClient(cc)
	ctx := servicetest.Context(t)
	_, err = c.GetSharedData(ctx, &pb.SharedData{SessionId: "s"})
	servicetest.WantCode(t, err, codes.Unauthenticated)
	kctx := metadata.AppendToOutgoingContext(ctx, "api_key", "sesame")
	if _, err := c.SetSharedData(kctx, &pb.SharedData{SessionId: "s", Payload: []byte("v")}); err != nil {
		t.Fatalf("Set through the node over TLS: %v", err)
	}
	if d, err := c.GetSharedData(kctx, &pb.SharedData{SessionId: "s", UpdateLevel: level(0)}); err != nil || string(d.Payload) != "v" {
		t.Fatalf("Get through the node: %v, %v", d, err)
	}
}

func TestMetricsNames(t *testing.T) {
	p := startPair(t, Options{CacheSize: 1 << 20})
	ctx := servicetest.Context(t)
	if _, err := p.central.SetSharedData(ctx, &pb.SharedData{SessionId: "s", Payload: []byte("12345")}); err != nil {
		t.Fatal(err)
	}
	p.get(t, ctx, "s", 0)
	p.get(t, ctx, "s", 0)
	mfs, err := p.nodeReg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`alpcrun_cache_requests_total{result="hit",tier="node"}`:  1,
		`alpcrun_cache_requests_total{result="miss",tier="node"}`: 1,
		`alpcrun_cache_bytes{tier="node"}`:                        5 + 1 + 64,
		`alpcrun_cache_entries{tier="node"}`:                      1,
	}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			name := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			if v, ok := want[name]; ok {
				if got := m.GetCounter().GetValue() + m.GetGauge().GetValue(); got != v {
					t.Errorf("%s = %v, want %v", name, got, v)
				}
				delete(want, name)
			}
		}
	}
	for name := range want {
		t.Errorf("no series %s", name)
	}
}

// A write through a node cache reaches the central cache with the
// writer's key, not the node cache's: the data belongs to the writer's
// tenant, another tenant on the same node cannot overwrite it, and a node
// cache with a worker key (it only reads for itself) passes writes on.
func TestWritesCarryTheWritersKey(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("alice tenant=alice roles=client\nbob tenant=bob roles=client\nnode roles=worker\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("METALCORE_API_KEY", "node")
	ccfg := centralcache.DefaultOptions()
	ccfg.Listen, ccfg.HTTPListen, ccfg.APIKeyFile = "127.0.0.1:0", "", keys
	centralAddr := servicetest.RunUntilReady(t, func(ctx context.Context, ready chan<- string) error { return centralcache.Run(ctx, ccfg, ready) })
	ncfg := DefaultOptions()
	ncfg.Listen, ncfg.HTTPListen, ncfg.APIKeyFile, ncfg.CentralCacheAddr = "127.0.0.1:0", "", keys, centralAddr
	nodeAddr := servicetest.RunUntilReady(t, func(ctx context.Context, ready chan<- string) error { return Run(ctx, ncfg, ready) })

	c := pb.NewCacheClient(servicetest.Dial(t, nodeAddr))
	ctx := servicetest.Context(t)
	as := func(key string) context.Context { return metadata.AppendToOutgoingContext(ctx, "api_key", key) }
	if _, err := c.SetSharedData(as("alice"), &pb.SharedData{SessionId: "alice:s", Payload: []byte("market")}); err != nil {
		t.Fatalf("alice sets through the node: %v", err)
	}
	_, err := c.UpdateSharedData(as("bob"), &pb.SharedData{SessionId: "alice:s", Payload: []byte("EVIL")})
	servicetest.WantCode(t, err, codes.PermissionDenied)
	_, err = c.DeleteSharedData(as("bob"), &pb.SharedData{SessionId: "alice:s"})
	servicetest.WantCode(t, err, codes.PermissionDenied)
	_, err = c.GetSharedData(as("bob"), &pb.SharedData{SessionId: "alice:s", UpdateLevel: level(0)})
	servicetest.WantCode(t, err, codes.PermissionDenied)
	if _, err := c.UpdateSharedData(as("alice"), &pb.SharedData{SessionId: "alice:s", Payload: []byte("market2")}); err != nil {
		t.Fatalf("alice updates through the node: %v", err)
	}
	if d, err := c.GetSharedData(as("node"), &pb.SharedData{SessionId: "alice:s", UpdateLevel: level(1)}); err != nil || string(d.Payload) != "market2" {
		t.Fatalf("a worker reads %v, %v", d, err)
	}
}
