// Package serve runs a service's gRPC and HTTP sides the same way in every
// main: tuned transport, API keys, TLS, health and reflection, metrics and
// pprof, readiness, and a graceful stop on SIGTERM.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/internal/admin"
	"github.com/alpcrun/alpcrun/services/internal/auth"
	"github.com/alpcrun/alpcrun/services/internal/config"
	"github.com/alpcrun/alpcrun/services/internal/tlsconf"
	"github.com/alpcrun/alpcrun/services/sdk"
)

// DrainTimeout bounds the graceful stop: streams still open then are cut.
const DrainTimeout = 10 * time.Second

// Service is what a main serves.
type Service struct {
	Name     string
	Common   config.Common
	Log      *slog.Logger
	Registry *prometheus.Registry
	// Register adds the service's gRPC services.
	Register func(*grpc.Server)
	// Extra server options, e.g. larger message limits.
	Options []grpc.ServerOption
	// HTTP are extra handlers on the HTTP side by mux pattern (the queue
	// manager's dashboard), behind the API keys (auth.HTTP); /metrics and
	// the probes stay open, as before.
	HTTP map[string]http.Handler
}

// Run serves until ctx is done, then drains: readiness goes false, gRPC
// stops gracefully (bounded by DrainTimeout), the HTTP side shuts down.
// ready, when non-nil, receives the bound gRPC address once serving.
func Run(ctx context.Context, svc Service, ready chan<- string) error {
	a, open, err := auth.New(os.Getenv(sdk.EnvAPIKey), svc.Common.APIKeyFile)
	if err != nil {
		return err
	}
	if open {
		svc.Log.Warn("no API key configured: every call is accepted", "env", sdk.EnvAPIKey)
	}
	creds, err := tlsconf.Server{Enabled: svc.Common.TLS, CertFile: svc.Common.CertFile,
		KeyFile: svc.Common.KeyFile, ClientCAFile: svc.Common.ClientCAFile}.ServerOption()
	if err != nil {
		return err
	}
	opts := append(grpctune.ServerOptions(), creds)
	opts = append(opts, a.ServerOptions()...)
	opts = append(opts, svc.Options...)
	g := grpc.NewServer(opts...)
	svc.Register(g)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	reflection.Register(g)

	// The caller names the service: the daemon's main by its command name,
	// allinone by the section.
	lis, err := net.Listen("tcp", svc.Common.Listen)
	if err != nil {
		return fmt.Errorf("gRPC listener (key listen): %w", err)
	}
	var adm *admin.Server
	if svc.Common.HTTPListen != "" {
		var guard func(http.Handler) http.Handler
		if svc.Common.MetricsAuth {
			guard = a.HTTP
		}
		adm = admin.NewGuarded(svc.Registry, guard)
		for pattern, h := range svc.HTTP {
			adm.Handle(pattern, a.HTTP(h))
		}
		if err := adm.Start(svc.Common.HTTPListen); err != nil {
			lis.Close()
			return fmt.Errorf("HTTP listener (key httpListen): %w", err)
		}
	}
	if svc.Common.DebugListen != "" {
		dbg := admin.NewDebug()
		if err := dbg.Start(svc.Common.DebugListen); err != nil {
			lis.Close()
			if adm != nil {
				_ = adm.Shutdown(context.Background())
			}
			return fmt.Errorf("debug listener (key debugListen): %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = dbg.Shutdown(sctx)
		}()
		svc.Log.Info("serving profiles", "service", svc.Name, "debug", dbg.Addr())
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- g.Serve(lis) }()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if adm != nil {
		adm.SetReady(true)
	}
	svc.Log.Info("serving", "service", svc.Name, "grpc", lis.Addr().String(), "http", svc.Common.HTTPListen, "tls", svc.Common.TLS)
	if ready != nil {
		ready <- lis.Addr().String()
	}

	select {
	case err = <-serveErr:
	case <-ctx.Done():
	}
	svc.Log.Info("draining", "service", svc.Name)
	hs.Shutdown()
	if adm != nil {
		adm.SetReady(false)
	}
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(DrainTimeout):
		g.Stop()
	}
	if adm != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = adm.Shutdown(sctx)
	}
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}
