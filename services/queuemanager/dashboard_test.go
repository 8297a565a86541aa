package queuemanager

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/internal/auth"
	"github.com/alpcrun/alpcrun/services/sdk"
)

func TestQuantile(t *testing.T) {
	bounds := []float64{1, 2, 4, math.Inf(1)}
	from := []uint64{5, 5, 5, 5}
	to := []uint64{5, 15, 25, 25} // 10 tasks in (1,2], 10 in (2,4]
	for _, c := range []struct{ q, want float64 }{{0.5, 2}, {0.25, 1.5}, {0.75, 3}, {1, 4}} {
		if got := quantile(c.q, bounds, from, to); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantile(0.5, bounds, to, to); got != -1 {
		t.Errorf("no tasks: %v, want -1", got)
	}
	if got := quantile(0.99, bounds, []uint64{0, 0, 0, 0}, []uint64{0, 0, 0, 3}); got != 4 {
		t.Errorf("beyond the last bucket: %v, want its lower bound 4", got)
	}
}

// TestDashboardAPIKey: with a key configured the page, its data and the
// Admin service need it; /metrics stays open for Prometheus.
func TestDashboardAPIKey(t *testing.T) {
	t.Setenv(sdk.EnvAPIKey, "sesame")
	cfg := DefaultOptions()
	cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", freeAddr(t)
	ctx := testCtx(t)
	cc := runServer(t, cfg)
	adm := pb.NewAdminClient(cc)
	_, err := adm.ListSessions(ctx, &pb.ListSessionsRequest{})
	wantCode(t, err, codes.Unauthenticated)
	keyed := metadata.AppendToOutgoingContext(ctx, "api_key", "sesame")
	if _, err := pb.NewQueueClient(cc).CreateSession(keyed, &pb.Session{App: &pb.App{Id: "a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.ListSessions(keyed, &pb.ListSessionsRequest{}); err != nil {
		t.Fatal(err)
	}

	base := "http://" + cfg.HTTPListen
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	for _, p := range []string{"/", "/api/dashboard", "/static/dashboard.js"} {
		if resp, _ := get(p, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a key: %s", p, resp.Status)
		}
		if resp, _ := get(p, map[string]string{auth.HeaderName: "open"}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with a wrong key: %s", p, resp.Status)
		}
	}
	resp, _ := get("/?key=sesame", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("?key=: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == auth.CookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly {
		t.Fatalf("cookies %v", resp.Cookies())
	}
	resp, page := get("/", map[string]string{"Cookie": cookie.String()})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="sessions"`) {
		t.Fatalf("page with the cookie: %s\n%s", resp.Status, page)
	}
	resp, body := get("/api/dashboard", map[string]string{auth.HeaderName: "sesame"})
	var d dashData
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &d) != nil || d.Totals.Sessions != 1 || len(d.Sessions) != 1 {
		t.Fatalf("data: %s %s", resp.Status, body)
	}
	if resp, body := get("/metrics", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "alpcrun_build_info{") {
		t.Fatalf("metrics: %s", resp.Status)
	}
}
