// Command faultproxy runs one faultproxy.Proxy, for fault-injection tests
// in containers (make faults): TCP from --listen to --upstream, its faults
// controlled over HTTP on --http (see faultproxy.Handler).
//
//	faultproxy --listen :1337 --upstream queue-manager:1337 --http :8080
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/alpcrun/alpcrun/internal/faultproxy"
)

func main() {
	listen := flag.String("listen", ":1337", "TCP `address` to accept connections on")
	upstream := flag.String("upstream", "", "TCP `address` to forward them to (required)")
	httpAddr := flag.String("http", ":8080", "HTTP `address` of the controls")
	flag.Parse()
	if *upstream == "" {
		fmt.Fprintln(os.Stderr, "faultproxy: --upstream is required")
		os.Exit(2)
	}
	if err := run(*listen, *upstream, *httpAddr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(listen, upstream, httpAddr string) error {
	p, err := faultproxy.New(listen, upstream)
	if err != nil {
		return err
	}
	defer p.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: httpAddr, Handler: logged(faultproxy.Handler(p))}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	slog.Info("faultproxy", "listen", p.Addr(), "upstream", upstream, "http", httpAddr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// logged logs every control request, so a test's container log shows when
// each fault began and ended.
func logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slog.Info("faultproxy control", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery)
		h.ServeHTTP(w, r)
	})
}
