package grpctune

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Settings are the transport knobs that ServerOptions and DialOptions set.
// The zero value of every field keeps gRPC's default, so Settings{} is plain
// gRPC; the bench relay measures any Settings against Tuned (see doc.go).
type Settings struct {
	// StreamWindow and ConnWindow are static HTTP/2 flow-control windows in
	// bytes (per stream, per connection). Setting either turns off gRPC's
	// BDP estimator, which otherwise starts both at 64 KiB and grows them
	// with ping round trips. Values below 64 KiB are ignored by gRPC.
	StreamWindow int32
	ConnWindow   int32
	// ReadBuffer and WriteBuffer size the per-connection bufio buffers in
	// bytes (gRPC default 32 KiB each); negative disables the buffer.
	ReadBuffer  int
	WriteBuffer int
	// MaxMessage caps the messages sent and received, in bytes (gRPC's
	// defaults: 4 MiB received, no limit sent).
	MaxMessage int
	// Keepalive pings idle long-lived streams so that a dead peer is found
	// without waiting for TCP's timeouts, lets the server accept the
	// pings, and has servers close connections idle for 15 minutes
	// (DefaultServerKeepalive).
	Keepalive bool
	// Codec decodes Batch messages with Codec instead of the standard
	// proto codec (same wire format).
	Codec bool
}

// Tuned is what every ALPCRUN.CH server and client uses: the relay limit,
// the queue manager, the caches and the SDKs. doc.go has the measurements.
func Tuned() Settings {
	return Settings{
		// Static windows: the BDP estimator pings on data while no ping
		// is outstanding, which with one small message per round trip is a
		// ping and an ack per message; turning it off cut the idle round
		// trip by 42%. The stream window also bounds what a receiver
		// buffers for a stream it is not reading (a queue manager pushing
		// back on a client): 1 MiB beat 64 KiB by 10% on 100-task batches
		// and 26% on 400 KB batches, and 4 MiB only queued more (400 KB
		// batches: −10% tasks/s, 2× p50). The connection window is
		// credited as bytes arrive, not as the application reads them, so
		// it costs no memory and is large enough for 16 busy streams.
		StreamWindow: 1 << 20,
		ConnWindow:   16 << 20,
		// The read buffer is held by every connection for its lifetime
		// (10,000 workers × 64 KiB = 640 MiB on a queue manager): 32 KiB
		// lost 9% on 400 KB batches, 256 KiB gained nothing.
		ReadBuffer: 64 << 10,
		// The write buffer comes from a pool for each flush (gRPC's shared
		// write buffer, on by default), so its size costs no idle memory;
		// 256 KiB carries 16 full HTTP/2 frames per write syscall and
		// saved 4% CPU over 32 KiB.
		WriteBuffer: 256 << 10,
		// Room for the largest shared-data payload (64 MiB, docs/design.md,
		// Shared data) plus framing; batches are bounded by the queue
		// manager's maxBatchBytes.
		MaxMessage: 80 << 20,
		Keepalive:  true,
		// 32% of the CPU per task at 100-task batches (see Codec).
		Codec: true,
	}
}

// Keepalive timings. The client pings an idle connection every
// keepaliveTime and gives up after keepaliveTimeout; the server allows pings
// that often (its default minimum is 5 minutes, and a client pinging more
// often than the server allows is disconnected with ENHANCE_YOUR_CALM).
const (
	keepaliveTime     = 30 * time.Second
	keepaliveTimeout  = 10 * time.Second
	keepaliveMinTime  = 10 * time.Second
	maxConnectionIdle = 15 * time.Minute
)

// ServerKeepalive is how a server stops dead and idle connections from
// holding its resources: their buffers, streams and goroutines. Its tags
// name the keys of a service configuration that embeds it inline.
type ServerKeepalive struct {
	// Time and Timeout: a connection quiet for Time is pinged, and closed
	// when the ping is not answered within Timeout (a peer that vanished
	// without closing its socket). gRPC raises a Time below 1s to 1s.
	Time    time.Duration `yaml:"keepaliveTime" usage:"ping a connection quiet this long (at least 1s)"`
	Timeout time.Duration `yaml:"keepaliveTimeout" usage:"close a connection whose ping is unanswered this long"`
	// MaxConnectionIdle closes, with GOAWAY, a connection that has had no
	// open stream for this long; a gRPC client reconnects on its next call.
	MaxConnectionIdle time.Duration `yaml:"maxConnectionIdle" usage:"close a connection without streams for this long"`
}

// DefaultServerKeepalive is what Tuned servers use.
func DefaultServerKeepalive() ServerKeepalive {
	return ServerKeepalive{Time: keepaliveTime, Timeout: keepaliveTimeout, MaxConnectionIdle: maxConnectionIdle}
}

// ServerOptions returns k's server parameters and the enforcement policy
// that lets clients ping every keepaliveMinTime, with or without streams.
// Given after Tuned's options, they replace Tuned's keepalive.
func (k ServerKeepalive) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: k.Time, Timeout: k.Timeout, MaxConnectionIdle: k.MaxConnectionIdle}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
	}
}

// ServerOptions returns Tuned().ServerOptions().
func ServerOptions() []grpc.ServerOption { return Tuned().ServerOptions() }

// DialOptions returns Tuned().DialOptions() without DNS service config:
// resolving _grpc_config.<host> TXT records stalled every first connection
// for 10 s on Docker's networks, and ALPCRUN.CH publishes none. Callers add
// credentials.
func DialOptions() []grpc.DialOption {
	return append(Tuned().DialOptions(), grpc.WithDisableServiceConfig())
}

// ServerOptions turns s into grpc.NewServer options.
func (s Settings) ServerOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if s.StreamWindow != 0 {
		opts = append(opts, grpc.InitialWindowSize(s.StreamWindow))
	}
	if s.ConnWindow != 0 {
		opts = append(opts, grpc.InitialConnWindowSize(s.ConnWindow))
	}
	if s.ReadBuffer != 0 {
		opts = append(opts, grpc.ReadBufferSize(s.ReadBuffer))
	}
	if s.WriteBuffer != 0 {
		opts = append(opts, grpc.WriteBufferSize(s.WriteBuffer))
	}
	if s.MaxMessage != 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(s.MaxMessage), grpc.MaxSendMsgSize(s.MaxMessage))
	}
	if s.Keepalive {
		opts = append(opts, DefaultServerKeepalive().ServerOptions()...)
	}
	if s.Codec {
		opts = append(opts, grpc.ForceServerCodecV2(Codec{}))
	}
	return opts
}

// DialOptions turns s into grpc.NewClient options.
func (s Settings) DialOptions() []grpc.DialOption {
	var opts []grpc.DialOption
	if s.StreamWindow != 0 {
		opts = append(opts, grpc.WithInitialWindowSize(s.StreamWindow))
	}
	if s.ConnWindow != 0 {
		opts = append(opts, grpc.WithInitialConnWindowSize(s.ConnWindow))
	}
	if s.ReadBuffer != 0 {
		opts = append(opts, grpc.WithReadBufferSize(s.ReadBuffer))
	}
	if s.WriteBuffer != 0 {
		opts = append(opts, grpc.WithWriteBufferSize(s.WriteBuffer))
	}
	if s.MaxMessage != 0 {
		opts = append(opts, grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(s.MaxMessage), grpc.MaxCallSendMsgSize(s.MaxMessage)))
	}
	if s.Keepalive {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true,
		}))
	}
	if s.Codec {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{})))
	}
	return opts
}
