package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is an upstream over loopback that keeps every byte it receives
// and, when echo is set, writes it back.
type server struct {
	ln    net.Listener
	echo  bool
	mu    sync.Mutex
	got   bytes.Buffer
	conns []net.Conn
	cond  *sync.Cond
}

func startServer(t *testing.T, echo bool) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, echo: echo}
	s.cond = sync.NewCond(&s.mu)
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					s.mu.Lock()
					s.got.Write(buf[:n])
					s.cond.Broadcast()
					s.mu.Unlock()
					if s.echo && n > 0 {
						_, _ = c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return s
}

// waitGot waits until the server has received want in all.
func (s *server) waitGot(t *testing.T, want string) {
	t.Helper()
	stop := time.AfterFunc(10*time.Second, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop.Stop()
	deadline := time.Now().Add(10 * time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.got.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("upstream received %q, want %q", s.got.String(), want)
		}
		s.cond.Wait()
	}
}

func newProxy(t *testing.T, upstream string) *Proxy {
	t.Helper()
	p, err := New("127.0.0.1:0", upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// roundTrip writes msg and reads it back from an echoing upstream.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading back %q: %v", msg, err)
	}
	if string(buf) != msg {
		t.Fatalf("read back %q, want %q", buf, msg)
	}
}

// waitStats waits until cond holds for p's stats.
func waitStats(t *testing.T, p *Proxy, what string, cond func(Stats) bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond(p.Stats()) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waiting for %s: stats %+v", what, p.Stats())
		}
	}
}

func TestForward(t *testing.T) {
	up := startServer(t, true)
	p := newProxy(t, up.ln.Addr().String())
	c := dial(t, p.Addr())
	roundTrip(t, c, "hello")
	roundTrip(t, c, strings.Repeat("x", 100<<10))
	// The proxy counts a chunk after writing it, so the client may read the
	// last one first: wait for the count.
	const n = 5 + 100<<10
	waitStats(t, p, "every byte counted", func(s Stats) bool { return s.Forwarded[Up] == n && s.Forwarded[Down] == n })
	if s := p.Stats(); s.Accepted != 1 || s.Active != 1 || s.Forwarded[Up] != n || s.Forwarded[Down] != n {
		t.Errorf("stats %+v", s)
	}
}

// TestDelay: a round trip through a proxy that delays each way by d takes
// at least 2d, and Restore removes the delay.
func TestDelay(t *testing.T) {
	up := startServer(t, true)
	p := newProxy(t, up.ln.Addr().String())
	c := dial(t, p.Addr())
	const d = 30 * time.Millisecond
	p.SetDelay(d)
	start := time.Now()
	roundTrip(t, c, "slow")
	if took := time.Since(start); took < 2*d {
		t.Errorf("round trip took %v, under twice the delay %v", took, d)
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "fast")
}

// TestDrop: while dropped, bytes both ways are discarded and the
// connection stays open; after Restore it carries bytes again, and the
// dropped ones never arrive.
func TestDrop(t *testing.T) {
	up := startServer(t, false)
	p := newProxy(t, up.ln.Addr().String())
	c := dial(t, p.Addr())
	if _, err := c.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	up.waitGot(t, "a")
	p.Drop()
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, p, "4 bytes dropped up", func(s Stats) bool { return s.Dropped[Up] == 4 })
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	up.waitGot(t, "ab")
	if s := p.Stats(); s.Active != 1 || s.Accepted != 1 {
		t.Errorf("stats %+v: want the one connection kept open", s)
	}
}

// TestHalfOpen: with the down direction blackholed the upstream still
// receives, the client reads nothing, and nothing is closed.
func TestHalfOpen(t *testing.T) {
	up := startServer(t, true)
	p := newProxy(t, up.ln.Addr().String())
	c := dial(t, p.Addr())
	roundTrip(t, c, "1")
	p.HalfOpen(Down)
	if _, err := c.Write([]byte("2")); err != nil {
		t.Fatal(err)
	}
	up.waitGot(t, "12")
	waitStats(t, p, "the echo dropped down", func(s Stats) bool { return s.Dropped[Down] == 1 })
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "3") // "2" was dropped: the next byte read is "3"
	if s := p.Stats(); s.Active != 1 || s.Dropped[Up] != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestStall: stalled bytes are held, not forwarded nor dropped, and arrive
// in order on Restore over the same connection.
func TestStall(t *testing.T) {
	up := startServer(t, true)
	p := newProxy(t, up.ln.Addr().String())
	c := dial(t, p.Addr())
	roundTrip(t, c, "1")
	p.Stall()
	if _, err := c.Write([]byte("2")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, p, "1 byte held up", func(s Stats) bool { return s.Held[Up] == 1 })
	if s := p.Stats(); s.Forwarded[Up] != 1 || s.Dropped[Up] != 0 {
		t.Fatalf("stats %+v: the stalled byte went on", s)
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "2" {
		t.Fatalf("after restore read %q, %v; want the held 2", buf, err)
	}
	if s := p.Stats(); s.Held != [2]int64{} || s.Active != 1 {
		t.Errorf("stats %+v", s)
	}

	// A cut ends a stall: the held bytes go nowhere.
	p.Stall()
	if _, err := c.Write([]byte("3")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, p, "1 byte held up", func(s Stats) bool { return s.Held[Up] == 1 })
	p.Cut()
	waitStats(t, p, "nothing held or open", func(s Stats) bool { return s.Held[Up] == 0 && s.Active == 0 })
	up.waitGot(t, "12")
}

// TestCut: a cut closes open connections and refuses new ones; Restore
// accepts again on the same address.
func TestCut(t *testing.T) {
	up := startServer(t, true)
	p := newProxy(t, up.ln.Addr().String())
	addr := p.Addr()
	c := dial(t, addr)
	roundTrip(t, c, "before")
	p.Cut()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read on a cut connection succeeded")
	}
	if c2, err := net.Dial("tcp", addr); err == nil {
		c2.Close()
		t.Fatal("dial succeeded while cut")
	}
	waitStats(t, p, "no connection open", func(s Stats) bool { return s.Active == 0 && s.Cut })
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if p.Addr() != addr {
		t.Fatalf("address %s after restore, was %s", p.Addr(), addr)
	}
	roundTrip(t, dial(t, addr), "after")
}

// TestSetUpstream: new connections go to the new upstream; an unreachable
// upstream is refused by closing the client's connection.
func TestSetUpstream(t *testing.T) {
	a, b := startServer(t, false), startServer(t, false)
	p := newProxy(t, a.ln.Addr().String())
	c := dial(t, p.Addr())
	if _, err := c.Write([]byte("to a")); err != nil {
		t.Fatal(err)
	}
	a.waitGot(t, "to a")
	p.SetUpstream(b.ln.Addr().String())
	if _, err := dial(t, p.Addr()).Write([]byte("to b")); err != nil {
		t.Fatal(err)
	}
	b.waitGot(t, "to b")

	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	p.SetUpstream(deadAddr)
	if _, err := dial(t, p.Addr()).Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read through a proxy to a dead upstream: %v, want EOF", err)
	}
	waitStats(t, p, "one refused", func(s Stats) bool { return s.Refused == 1 })
}

func TestHandler(t *testing.T) {
	up := startServer(t, true)
	p := newProxy(t, up.ln.Addr().String())
	srv := httptest.NewServer(Handler(p))
	defer srv.Close()
	post := func(path string, want int) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %s, want %d", path, resp.Status, want)
		}
	}
	c := dial(t, p.Addr())
	post("/halfopen?dir=up", http.StatusOK)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, p, "dropped up", func(s Stats) bool { return s.Dropped[Up] == 1 })
	post("/restore", http.StatusOK)
	roundTrip(t, c, "y")
	post("/cut", http.StatusOK)
	if !p.Stats().Cut {
		t.Fatal("POST /cut did not cut")
	}
	post("/restore", http.StatusOK)
	post("/delay?d=1ms", http.StatusOK)
	post("/delay?d=soon", http.StatusBadRequest)
	post("/halfopen?dir=sideways", http.StatusBadRequest)
	post("/upstream", http.StatusBadRequest)
	post("/stall", http.StatusOK)
	post("/drop", http.StatusOK)
	resp, err := http.Get(srv.URL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /stats: %s", resp.Status)
	}
}
