package nodecache

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/internal/cachewire"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/internal/config"
	"github.com/alpcrun/alpcrun/services/internal/serve"
	"github.com/alpcrun/alpcrun/services/internal/tlsconf"
	"github.com/alpcrun/alpcrun/services/sdk"
)

// LoadConfig reads the configuration from defaults, the YAML file of
// --config, METALCORE_CENTRAL_CACHE_ADDR, ALPCRUNCH_* variables and flags,
// and validates it; the error names every bad key.
func LoadConfig(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (Options, error) {
	return config.LoadDefaults(DefaultOptions(), fs, args, lookupEnv)
}

// Run serves a node cache configured by opts until ctx is done, then
// drains. It dials opts.CentralCacheAddr, logs and registers metrics on its
// own. ready, when non-nil, receives the gRPC address once serving.
func Run(ctx context.Context, opts Options, ready chan<- string) error {
	log := config.NewLogger(opts.Common)
	conn, err := dialCentral(opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	reg := prometheus.NewRegistry()
	opts.Upstream, opts.Logger, opts.Registerer = pb.NewCacheClient(conn), log, reg
	opts.UpstreamKey = os.Getenv(sdk.EnvAPIKey)
	s, err := New(opts)
	if err != nil {
		return err
	}
	defer s.Close()
	log.Info("central cache", "addr", opts.CentralCacheAddr, "tls", opts.TLS || opts.CACert != "")
	return serve.Run(ctx, serve.Service{
		Name: "node-cache", Common: opts.Common, Log: log, Registry: reg,
		Register: s.Register, Options: s.ServerOptions(),
	}, ready)
}

// dialCentral connects to the central cache (see Options for TLS); the
// connection is made on first use.
func dialCentral(cfg Options) (*grpc.ClientConn, error) {
	creds, err := tlsconf.Client{
		Enabled: cfg.TLS || cfg.CACert != "", CACert: cfg.CACert, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile,
	}.DialOption()
	if err != nil {
		return nil, err
	}
	opts := append(cachewire.TunedDialOptions(int(cfg.MaxPayload)), creds)
	conn, err := grpc.NewClient(cfg.CentralCacheAddr, opts...)
	if err != nil {
		return nil, fmt.Errorf("nodecache: dial %s: %w", cfg.CentralCacheAddr, err)
	}
	return conn, nil
}
