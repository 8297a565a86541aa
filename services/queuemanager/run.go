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
func LoadConfig(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (Options, error) {
	return config.LoadDefaults(DefaultOptions(), fs, args, lookupEnv)
}

// Run serves a queue manager configured by opts until ctx is done, then
// drains. It logs and registers metrics on its own. ready, when non-nil,
// receives the gRPC address once serving.
func Run(ctx context.Context, opts Options, ready chan<- string) error {
	log := config.NewLogger(opts.Common)
	reg := prometheus.NewRegistry()
	opts.Logger, opts.Registerer = log, reg
	qm, err := New(opts)
	if err != nil {
		return err
	}
	defer qm.Close()
	return serve.Run(ctx, serve.Service{
		Name: "queue-manager", Common: opts.Common, Log: log, Registry: reg, Register: qm.Register,
		Options: qm.ServerOptions(), HTTP: qm.HTTPHandlers(),
	}, ready)
}
