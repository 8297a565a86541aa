package queuemanager

import (
	"context"
	"flag"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alpcrun/alpcrun/services/internal/config"
	"github.com/alpcrun/alpcrun/services/internal/serve"
)

// LoadConfig reads the configuration from defaults, the YAML file of
// --config, ALPCRUNCH_* variables and flags, and validates it; the error
// names every bad key.
func LoadConfig(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := DefaultConfig()
	err := config.Load(&cfg, fs, args, lookupEnv)
	return cfg, err
}

// Run serves a queue manager configured by cfg until ctx is done, then
// drains. ready, when non-nil, receives the gRPC address once serving.
func Run(ctx context.Context, cfg Config, ready chan<- string) error {
	log := config.NewLogger(cfg.Common)
	reg := prometheus.NewRegistry()
	opts := cfg.Options()
	opts.Logger, opts.Registerer = log, reg
	qm, err := New(opts)
	if err != nil {
		return err
	}
	defer qm.Close()
	return serve.Run(ctx, serve.Service{
		Name: "queue-manager", Common: cfg.Common, Log: log, Registry: reg, Register: qm.Register,
		Options: qm.ServerOptions(), HTTP: qm.HTTPHandlers(),
	}, ready)
}
