// Package faultproxy is a TCP proxy for fault-injection tests: it forwards
// every connection accepted on its listen address to an upstream address,
// and at run time adds delay, blackholes one or both directions (bytes are
// read and discarded, connections stay open: a half-open link), stalls
// (bytes are held and delivered in order once restored, as TCP does across
// a partition that heals), or cuts (closes every connection and refuses new
// ones until Restore). Faults apply at once to open connections as well as
// new ones.
// Handler exposes the controls over HTTP, for cmd/faultproxy in a container.
package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Direction is one way through the proxy.
type Direction int

// The two directions of a connection.
const (
	Up   Direction = iota // client to upstream
	Down                  // upstream to client
)

func (d Direction) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}

// ParseDirection reads "up" or "down".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "up":
		return Up, nil
	case "down":
		return Down, nil
	}
	return 0, fmt.Errorf("faultproxy: direction %q is neither up nor down", s)
}

// Stats counts what the proxy did since it started.
type Stats struct {
	Accepted  int64    // connections accepted and forwarded
	Refused   int64    // connections closed at once: upstream unreachable
	Active    int      // connections open now
	Forwarded [2]int64 // bytes written on, by Direction
	Dropped   [2]int64 // bytes discarded by a blackhole, by Direction
	Held      [2]int64 // bytes held by a stall now, by Direction
	Cut       bool     // cut: listener closed
}

// Proxy forwards TCP connections to an upstream, with faults. Its methods
// are safe for concurrent use.
type Proxy struct {
	addr string // bound listen address, kept across Cut

	accepted, refused        atomic.Int64
	forwarded, dropped, held [2]atomic.Int64
	mu                       struct {
		sync.Mutex
		ln       net.Listener // nil while cut or closed
		upstream string
		delay    time.Duration
		mode     [2]mode
		changed  chan struct{} // closed and replaced on every change of mode
		links    map[*link]struct{}
		closed   bool
	}
	wg sync.WaitGroup
}

// mode is what a direction does with the bytes it reads.
type mode int

const (
	forward mode = iota
	discard      // blackhole
	hold         // stall: keep them until the mode changes
)

// link is one proxied connection.
type link struct {
	client, up net.Conn
	once       sync.Once
	done       chan struct{} // closed by close
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		_ = l.client.Close()
		_ = l.up.Close()
	})
}

// New listens on listen (e.g. "127.0.0.1:0") and forwards to upstream.
// Call Close to stop it.
func New(listen, upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{addr: ln.Addr().String()}
	p.mu.upstream = upstream
	p.mu.links = make(map[*link]struct{})
	p.mu.changed = make(chan struct{})
	p.serve(ln)
	return p, nil
}

// Addr is the address the proxy listens on (the same after a Cut).
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c)
			}()
		}
	}()
}

func (p *Proxy) handle(c net.Conn) {
	p.mu.Lock()
	upstream := p.mu.upstream
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", upstream, 5*time.Second)
	if err != nil {
		p.refused.Add(1)
		_ = c.Close()
		return
	}
	l := &link{client: c, up: up, done: make(chan struct{})}
	p.mu.Lock()
	// A Cut or Close may have run while this connection was dialling.
	if p.mu.ln == nil {
		p.mu.Unlock()
		l.close()
		return
	}
	p.mu.links[l] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, Up, up, c) }()
	go func() { defer wg.Done(); p.pipe(l, Down, c, up) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.mu.links, l)
	p.mu.Unlock()
}

// chunk is bytes read at a time, written no earlier than at.
type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst in direction d. A reader stamps each chunk with
// the delay in force when it was read and a writer holds it until then, so
// that a delay adds latency without throttling throughput. When either side
// ends, both connections close: a proxy that half-closed would hide a
// broken peer.
func (p *Proxy) pipe(l *link, d Direction, dst, src net.Conn) {
	defer l.close()
	chunks := make(chan chunk, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range chunks {
			if w := time.Until(c.at); w > 0 {
				t := time.NewTimer(w)
				select {
				case <-t.C:
				case <-l.done:
					t.Stop()
				}
			}
			if _, err := dst.Write(c.b); err != nil {
				l.close()
				for range chunks {
				}
				return
			}
			p.forwarded[d].Add(int64(len(c.b)))
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.handOn(l, d, buf[:n], chunks) {
			break
		}
		if err != nil {
			break
		}
	}
	close(chunks)
	<-done
}

// handOn forwards, discards or holds b as direction d's mode says; false:
// the link closed while b was held.
func (p *Proxy) handOn(l *link, d Direction, b []byte, chunks chan<- chunk) bool {
	for held := false; ; {
		p.mu.Lock()
		m, delay, changed := p.mu.mode[d], p.mu.delay, p.mu.changed
		p.mu.Unlock()
		if m != hold && held {
			p.held[d].Add(-int64(len(b)))
		}
		switch m {
		case forward:
			chunks <- chunk{b: append([]byte(nil), b...), at: time.Now().Add(delay)}
			return true
		case discard:
			p.dropped[d].Add(int64(len(b)))
			return true
		}
		if !held {
			held = true
			p.held[d].Add(int64(len(b)))
		}
		select {
		case <-changed:
		case <-l.done:
			p.held[d].Add(-int64(len(b)))
			return false
		}
	}
}

// setModesLocked sets both directions' modes and wakes held bytes.
func (p *Proxy) setModesLocked(up, down mode) {
	p.mu.mode = [2]mode{up, down}
	close(p.mu.changed)
	p.mu.changed = make(chan struct{})
}

// SetDelay delays every byte forwarded from now on, both ways, by d.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.delay = d
}

// Drop blackholes both directions: bytes are read and discarded and
// connections stay open, as across a network partition.
func (p *Proxy) Drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setModesLocked(discard, discard)
}

// Stall holds the bytes read both ways, connections open, and delivers
// them in order on Restore: a partition that TCP survives.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setModesLocked(hold, hold)
}

// HalfOpen blackholes direction d only; the other keeps flowing.
func (p *Proxy) HalfOpen(d Direction) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.mu.mode
	m[d] = discard
	p.setModesLocked(m[Up], m[Down])
}

// Cut closes every connection now and refuses new ones (the listener is
// closed) until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.ln != nil {
		_ = p.mu.ln.Close()
		p.mu.ln = nil
	}
	for l := range p.mu.links {
		l.close()
	}
}

// Restore ends every fault: no delay, no blackhole, held bytes go on, and
// after a Cut the proxy listens again on the same address.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.delay = 0
	p.setModesLocked(forward, forward)
	if p.mu.ln != nil || p.mu.closed {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("faultproxy: listening again: %w", err)
	}
	p.serve(ln)
	return nil
}

// SetUpstream sends new connections to addr; open ones keep theirs.
func (p *Proxy) SetUpstream(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.upstream = addr
}

// Stats reports the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	s := Stats{Active: len(p.mu.links), Cut: p.mu.ln == nil && !p.mu.closed}
	p.mu.Unlock()
	s.Accepted, s.Refused = p.accepted.Load(), p.refused.Load()
	for d := range 2 {
		s.Forwarded[d], s.Dropped[d], s.Held[d] = p.forwarded[d].Load(), p.dropped[d].Load(), p.held[d].Load()
	}
	return s
}

// Close stops the proxy, closes every connection and waits for its
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return errors.New("faultproxy: closed twice")
	}
	p.mu.closed = true
	p.mu.Unlock()
	p.Cut()
	p.wg.Wait()
	return nil
}
