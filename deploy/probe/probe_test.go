package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWorkers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("# HELP alpcrun_workers x\nalpcrun_workers{state=\"bound\"} 3\nalpcrun_workers{state=\"idle\"} 1\nalpcrun_workers_other 7\n"))
	}))
	defer srv.Close()
	n, err := Workers(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil || n != 4 {
		t.Fatalf("Workers = %d, %v; want 4", n, err)
	}
}
