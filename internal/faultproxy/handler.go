package faultproxy

import (
	"encoding/json"
	"net/http"
	"time"
)

// Handler serves p's controls over HTTP, each a POST answered with the
// Stats as JSON (GET /stats reads them):
//
//	POST /delay?d=200ms   POST /drop   POST /halfopen?dir=up|down
//	POST /stall           POST /cut       POST /restore
//	POST /upstream?addr=host:port
func Handler(p *Proxy) http.Handler {
	mux := http.NewServeMux()
	stats := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p.Stats())
	}
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { stats(w) })
	mux.HandleFunc("POST /delay", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 {
			http.Error(w, "faultproxy: d must be a duration >= 0", http.StatusBadRequest)
			return
		}
		p.SetDelay(d)
		stats(w)
	})
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, _ *http.Request) { p.Drop(); stats(w) })
	mux.HandleFunc("POST /halfopen", func(w http.ResponseWriter, r *http.Request) {
		d, err := ParseDirection(r.URL.Query().Get("dir"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.HalfOpen(d)
		stats(w)
	})
	mux.HandleFunc("POST /stall", func(w http.ResponseWriter, _ *http.Request) { p.Stall(); stats(w) })
	mux.HandleFunc("POST /cut", func(w http.ResponseWriter, _ *http.Request) { p.Cut(); stats(w) })
	mux.HandleFunc("POST /restore", func(w http.ResponseWriter, _ *http.Request) {
		if err := p.Restore(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		stats(w)
	})
	mux.HandleFunc("POST /upstream", func(w http.ResponseWriter, r *http.Request) {
		addr := r.URL.Query().Get("addr")
		if addr == "" {
			http.Error(w, "faultproxy: addr is required", http.StatusBadRequest)
			return
		}
		p.SetUpstream(addr)
		stats(w)
	})
	return mux
}
