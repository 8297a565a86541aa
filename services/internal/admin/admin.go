// Package admin is the HTTP side every service runs on its httpListen
// port, next to its gRPC port:
//
//	/metrics        Prometheus text format: the service's registry plus Go
//	                runtime and process metrics and alpcrun_build_info
//	/healthz        200 while the process runs (liveness)
//	/readyz         200 only while the service is marked ready (readiness):
//	                false until it serves, and again while it drains
//
// NewDebug serves the profiles, on a listener of their own (debugListen):
//
//	/debug/pprof/   net/http/pprof, registered on this server's own mux
//	/debug/fgprof   wall-clock profile (on-CPU and off-CPU) from fgprof;
//	                ?seconds=N, default 30
//
// The pprof handlers are mounted explicitly; http.DefaultServeMux is never
// served, so nothing another package registers there is exposed.
package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/felixge/fgprof"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/alpcrun/alpcrun/internal/version"
)

// Server serves the admin endpoints. Its methods are safe for concurrent
// use.
type Server struct {
	handler http.Handler
	mux     *http.ServeMux
	ready   atomic.Bool
	mu      struct {
		sync.Mutex
		srv      *http.Server
		ln       net.Listener
		served   chan struct{} // closed when Serve has returned
		serveErr error         // Serve's result, read after served is closed
	}
}

// New returns a server exposing the metrics of g (typically the service's
// own *prometheus.Registry) together with Go runtime and process metrics
// from a registry of its own; g must therefore not hold Go or process
// collectors itself. The server starts not ready.
func New(g prometheus.Gatherer) *Server { return NewGuarded(g, nil) }

// NewGuarded is New with /metrics wrapped by guard (the API keys) when
// guard is not nil; the probes stay open for the orchestrator.
func NewGuarded(g prometheus.Gatherer, guard func(http.Handler) http.Handler) *Server {
	runtime := prometheus.NewRegistry()
	runtime.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		version.Collector(),
	)
	s := &Server{}

	mux := http.NewServeMux()
	var metrics http.Handler = promhttp.HandlerFor(prometheus.Gatherers{runtime, g}, promhttp.HandlerOpts{})
	if guard != nil {
		metrics = guard(metrics)
	}
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	s.handler, s.mux = mux, mux
	return s
}

// NewDebug returns a server of the profiles only, always ready.
func NewDebug() *Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves heap, goroutine, allocs, ...
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/fgprof", fgprof.Handler())
	s := &Server{handler: mux, mux: mux}
	s.ready.Store(true)
	return s
}

// Handle mounts h at pattern (http.ServeMux syntax) beside the endpoints
// above, e.g. a service's own pages. Call it before Start.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler returns the endpoints, for a caller that serves them itself.
func (s *Server) Handler() http.Handler { return s.handler }

// SetReady sets what /readyz answers: 200 when true, 503 when false.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Start listens on addr (":0" picks a free port, see Addr) and serves in
// the background until Shutdown. It may be called once.
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.srv != nil {
		return errors.New("admin: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	// No write timeout: profiles stream for as long as they were asked to.
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	s.mu.srv, s.mu.ln, s.mu.served = srv, ln, served
	go func() {
		err := srv.Serve(ln)
		s.mu.Lock()
		s.mu.serveErr = err
		s.mu.Unlock()
		close(served)
	}()
	return nil
}

// Addr returns the address the server listens on, "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ln == nil {
		return ""
	}
	return s.mu.ln.Addr().String()
}

// Shutdown marks the server not ready, stops accepting connections and
// waits for requests in flight until ctx is done; then it closes the
// remaining connections (a long profile, for instance) and returns ctx's
// error. It returns nil when the server was never started.
func (s *Server) Shutdown(ctx context.Context) error {
	s.SetReady(false)
	s.mu.Lock()
	srv, served := s.mu.srv, s.mu.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	<-served
	s.mu.Lock()
	serveErr := s.mu.serveErr
	s.mu.Unlock()
	if !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("admin: %w", serveErr)
	}
	return err
}
