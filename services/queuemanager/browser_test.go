package queuemanager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/grpc/metadata"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/sdk"
	sdkworker "github.com/alpcrun/alpcrun/services/sdk/worker"
)

// The dashboard tests open the page in a real headless browser (Debian's
// chromium, driven over CDP by chromedp) and read what it shows. Without a
// browser they fail under CI=true (.ci/run installs one) and skip
// elsewhere. ALPCRUN_SCREENSHOT=docs/dashboard.png makes
// TestDashboardInBrowser run a longer mixed workload and save the page as
// that PNG (the README's picture):
//
//	ALPCRUN_SCREENSHOT=$PWD/docs/dashboard.png go test -run TestDashboardInBrowser ./services/queuemanager

// slowCtx is the deadline of a browser test: a browser starts slowly on a
// busy machine.
func slowCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// browser starts a headless chromium for the test.
func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no chromium on PATH: the dashboard test needs it in CI (apt-get install chromium)")
		}
		t.Skip("no chromium on PATH")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU, chromedp.WindowSize(1500, 1120))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return bctx
}

// pageCount reads a session's count (queued, inflight, done, dead) as the
// page shows it; -1 while the row is absent. A page that reports a failed
// poll is an error.
func pageCount(bctx context.Context, sessionID, field string) (int, error) {
	type shown struct {
		Status, Value string
		Error         bool
	}
	js := fmt.Sprintf(`(() => {
		const st = document.getElementById("status");
		const td = document.querySelector('tr[data-session="%s"] td[data-field="%s"]');
		return {Status: st.textContent, Error: st.classList.contains("error"), Value: td ? td.textContent : ""};
	})()`, sessionID, field)
	res, err := chromedp.Run(bctx, chromedp.Evaluate[shown](js))
	if err != nil {
		return 0, err
	}
	if res.Error {
		return 0, fmt.Errorf("the page reports %q", res.Status)
	}
	if res.Value == "" {
		return -1, nil
	}
	return strconv.Atoi(strings.ReplaceAll(res.Value, ",", ""))
}

// waitPage waits until the page shows field = want for the session.
func waitPage(ctx, bctx context.Context, sessionID, field string, want int) error {
	last := -1
	for {
		n, err := pageCount(bctx, sessionID, field)
		if err != nil {
			return err
		}
		if n == want {
			return nil
		}
		last = n
		select {
		case <-ctx.Done():
			return fmt.Errorf("the page shows %s = %d, want %d", field, last, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// gate holds tasks until the test lets them finish.
type gate struct{ release chan struct{} }

func (g gate) handle(ctx context.Context, t sdkworker.Task) ([]byte, error) {
	select {
	case <-g.release:
		return t.Payload, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g gate) let(n int) {
	for range n {
		g.release <- struct{}{}
	}
}

// submit opens a session and sends n one-task batches; results are read
// and dropped until ctx ends.
func submit(t *testing.T, ctx context.Context, q pb.QueueClient, app string, attrs *pb.SessionAttributes, n int) string {
	t.Helper()
	s, err := q.CreateSession(ctx, &pb.Session{App: &pb.App{Id: app}, Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := q.ClientStream(metadata.AppendToOutgoingContext(ctx, "sessionid", s.Id))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := range n {
			if cs.Send(batchOf(s.Id, fmt.Sprintf("%s-%06d", app, i))) != nil {
				return
			}
		}
	}()
	go func() {
		for {
			if _, err := cs.Recv(); err != nil {
				return
			}
		}
	}()
	return s.Id
}

func startWorkers(t *testing.T, ctx context.Context, addr string, n int, h sdkworker.Handler, opts ...sdkworker.Option) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for i := range n {
		wg.Go(func() {
			o := append([]sdkworker.Option{sdkworker.WithPod(fmt.Sprintf("worker-%d", i)), sdkworker.WithNode("node-" + strconv.Itoa(i%2))}, opts...)
			if err := sdkworker.Run(ctx, addr, h, o...); err != nil && !errors.Is(err, context.Canceled) {
				t.Error(err)
			}
		})
	}
}

// TestDashboardInBrowser runs a queue manager as the main does (API key,
// HTTP side) with workers and a session whose tasks finish when the test
// says, and checks that the page follows: tasks queued, then done in two
// steps.
func TestDashboardInBrowser(t *testing.T) {
	shot := os.Getenv("ALPCRUN_SCREENSHOT")
	ctx := slowCtx(t, 2*time.Minute)
	t.Setenv(sdk.EnvAPIKey, "sesame")
	cfg := DefaultOptions()
	cfg.Listen, cfg.HTTPListen, cfg.LogLevel = "127.0.0.1:0", freeAddr(t), "warn"
	if shot != "" {
		ctx = slowCtx(t, 5*time.Minute)
		cfg.Scheduler = "fairshare" // the picture shows workers shared out
	}
	bctx := browser(t, ctx)
	cc := runServer(t, cfg)
	keyed := metadata.AppendToOutgoingContext(ctx, "api_key", "sesame")
	addr := cc.Target()
	g := gate{release: make(chan struct{})}
	startWorkers(t, ctx, addr, 4, g.handle, sdkworker.WithAPIKey("sesame"), sdkworker.WithConcurrency(1))
	const total = 40
	// One batch in flight per worker: four held at the gate, the rest queued.
	id := submit(t, keyed, pb.NewQueueClient(cc), "browser-test", &pb.SessionAttributes{Priority: 5, MaxInflightBatchesPerWorker: 1}, total)

	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+cfg.HTTPListen+"/?key=sesame")); err != nil {
		t.Fatal(err)
	}
	if err := waitPage(ctx, bctx, id, "done", 0); err != nil {
		t.Fatal(err)
	}
	if err := waitPage(ctx, bctx, id, "queued", total-4); err != nil { // 4 workers hold one each
		t.Fatal(err)
	}
	// The utilisation grid shows the four workers busy for the session.
	busy, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#workers .w.bound i").length`))
	if err != nil || busy != 4 {
		t.Fatalf("utilisation grid: %d busy workers (%v), want 4", busy, err)
	}
	g.let(10)
	if err := waitPage(ctx, bctx, id, "done", 10); err != nil {
		t.Fatal(err)
	}
	g.let(total - 10)
	for f, want := range map[string]int{"done": total, "queued": 0, "inflight": 0, "dead": 0} {
		if err := waitPage(ctx, bctx, id, f, want); err != nil {
			t.Fatal(err)
		}
	}
	if shot != "" {
		go func() { // the gate's workers join the workload, at a task per 20 ms
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					select {
					case g.release <- struct{}{}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
		screenshot(t, bctx, keyed, pb.NewQueueClient(cc), addr, shot)
	}
}

// TestDashboardBrokenData serves the page with its data endpoint failing:
// the check TestDashboardInBrowser makes must then fail.
func TestDashboardBrokenData(t *testing.T) {
	ctx := slowCtx(t, 2*time.Minute)
	bctx := browser(t, ctx)
	ts := startServer(t, Options{})
	mux := http.NewServeMux()
	for p, h := range ts.HTTPHandlers() {
		if strings.HasSuffix(p, "/api/dashboard") {
			h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "broken on purpose", http.StatusInternalServerError)
			})
		}
		mux.Handle(p, h)
	}
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)
	g := gate{release: make(chan struct{})}
	startWorkers(t, ctx, ts.addr, 1, g.handle)
	id := submit(t, ctx, ts.q, "broken", nil, 3)
	waitFor(t, func() bool { s, err := ts.sessions.Get(id); return err == nil && s.Counts().Accepted.Load() == 3 }, "tasks accepted")
	if err := chromedp.Do(bctx, chromedp.Navigate(web.URL)); err != nil {
		t.Fatal(err)
	}
	// The page was rendered with done = 0; only its data can change that.
	g.let(3)
	waitFor(t, func() bool { s, err := ts.sessions.Get(id); return err == nil && s.Counts().Done.Load() == 3 }, "tasks done")
	err := waitPage(ctx, bctx, id, "done", 3)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("the check passed on a page without data: %v", err)
	}
}

// screenshot runs a mixed workload long enough to fill the charts and
// saves the page as a PNG at path.
func screenshot(t *testing.T, bctx, ctx context.Context, q pb.QueueClient, addr, path string) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	work := func(ctx context.Context, task sdkworker.Task) ([]byte, error) {
		mu.Lock()
		n++
		d := time.Duration(8+n*7%25) * time.Millisecond // 8..32 ms, deterministic
		mu.Unlock()
		select {
		case <-time.After(d):
			return task.Payload, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	startWorkers(t, ctx, addr, 24, work, sdkworker.WithAPIKey("sesame"))
	// Sessions arrive one after another, each capped, so that the picture
	// shows the workers shared out and the charts move.
	for _, s := range []struct {
		app           string
		prio, workers uint32
		n             int
	}{{"risk-eod", 8, 12, 60000}, {"pricing-grid", 5, 8, 80000}, {"backtest", 2, 6, 30000}, {"cva-nightly", 5, 6, 50000}} {
		submit(t, ctx, q, s.app, &pb.SessionAttributes{Priority: s.prio, MaxWorkers: &s.workers, MaxInflightBatchesPerWorker: 2}, s.n)
		select { // the charts cover minutes: let them fill
		case <-time.After(25 * time.Second):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
