package queuemanager

import (
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alpcrun/alpcrun/core/queue"
	"github.com/alpcrun/alpcrun/core/scheduler"
	"github.com/alpcrun/alpcrun/core/session"
	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/internal/config"
)

// Options configure a queue manager. Each tagged field is a key of its
// configuration file, also ALPCRUNCH_<KEY> in the environment and --<key>
// on the command line; a key is its field here, its default in
// DefaultOptions and its check in Validate. The untagged fields are set
// in code.
type Options struct {
	// Listeners, logging and TLS, which Run uses; New ignores them.
	config.Common `yaml:",inline"`

	BufferSize        int             `yaml:"bufferSize" usage:"capacity of each session queue, in batches"`
	QueueType         queue.Kind      `yaml:"queueType" usage:"queue kind: priority, fifo, lockfree, mutex or speed"`
	Scheduler         scheduler.Name  `yaml:"scheduler" usage:"scheduler policy: priority, fairshare or roundrobin"`
	Preemption        bool            `yaml:"preemption" usage:"let sessions take workers from preemptible lower-priority sessions"`
	SchedulerInterval time.Duration   `yaml:"schedulerInterval" usage:"scheduler tick between event-driven decisions"`
	WorkerTimeout     time.Duration   `yaml:"workerTimeout" usage:"a worker silent this long is gone and its batches are requeued"`
	SessionExpiry     time.Duration   `yaml:"sessionExpiry" usage:"sessions without client activity this long are closed"`
	MaxBatchBytes     config.ByteSize `yaml:"maxBatchBytes" usage:"largest accepted task batch (e.g. 64MiB)"`
	// RequireClientID serves a session's streams and changes only to calls
	// that carry its client_id in metadata "clientid".
	RequireClientID bool `yaml:"requireClientID" usage:"serve a session only to calls with its client_id in metadata clientid"`
	// SessionMetrics exports per-session queue depths for that many of the
	// deepest sessions; 0 exports none (session ids are unbounded label
	// values and tenants' secrets).
	SessionMetrics int `yaml:"sessionMetrics" usage:"export alpcrun_queue_depth per session for the N deepest sessions (0: none; session ids become metric labels)"`

	// Limits against abuse (limits.go). Sessions created without a
	// client_id count as one anonymous client.
	MaxBatchMessages     int `yaml:"maxBatchMessages" usage:"most messages in one task batch"`
	MaxSessionsPerClient int `yaml:"maxSessionsPerClient" usage:"most open sessions created under one client_id; sessions created without one share a quota"`
	MaxStreams           int `yaml:"maxStreams" usage:"most client and worker streams served at once"`
	MaxStreamsPerTenant  int `yaml:"maxStreamsPerTenant" usage:"most streams served at once for the keys of one tenant (key file tenant=)"`
	// Bounds on what a session may ask for (sessions.go): longer fields
	// and more tags are refused; larger max_attempts and
	// max_inflight_batches_per_worker are lowered to these.
	MaxFieldBytes      int    `yaml:"maxFieldBytes" usage:"longest session id, app id, client id or tag, in bytes"`
	MaxTags            int    `yaml:"maxTags" usage:"most tags on a session"`
	MaxAttempts        uint32 `yaml:"maxAttempts" usage:"most deliveries of a task a session may ask for (max_attempts is lowered to it)"`
	MaxInflightBatches uint32 `yaml:"maxInflightBatches" usage:"largest max_inflight_batches_per_worker a session may ask for (lowered to it)"`
	// Byte budgets of queued task batches: past them the client's stream
	// is not read (flow control), nothing is refused.
	MaxSessionBytes  config.ByteSize `yaml:"maxSessionBytes" usage:"bytes of task batches held per session (queued, at workers or answered and unread) before its client is slowed (flow control)"`
	MaxQueuedBytes   config.ByteSize `yaml:"maxQueuedBytes" usage:"bytes of task batches held in all sessions before clients are slowed (flow control)"`
	MaxHealthWatches int             `yaml:"maxHealthWatches" usage:"most gRPC health Watch streams served at once (they need no API key)"`
	// FirstBatchTimeout ends a ClientStream that names no session and sends
	// no batch for that long.
	FirstBatchTimeout time.Duration `yaml:"firstBatchTimeout" usage:"a client stream without metadata sessionid that sends no batch this long is ended"`
	// TaskTimeout is the task_timeout of sessions that set none.
	TaskTimeout time.Duration `yaml:"taskTimeout" usage:"task_timeout of sessions that set none (0: none), so a silent worker cannot hold tasks for ever"`
	// Transport limits, applied by ServerOptions: the largest message
	// received (task and result batches alike), the concurrent streams of
	// one connection, and keepalive.
	MaxMessageBytes      config.ByteSize          `yaml:"maxMessageBytes" usage:"largest gRPC message received, task or result batch (at least maxBatchBytes)"`
	MaxConcurrentStreams int                      `yaml:"maxConcurrentStreams" usage:"most concurrent streams on one connection (HTTP/2 makes further ones wait)"`
	Keepalive            grpctune.ServerKeepalive `yaml:",inline"`

	// Logger defaults to discarding; Registerer to registering nowhere.
	Logger     *slog.Logger          `yaml:"-"`
	Registerer prometheus.Registerer `yaml:"-"`
	// Now is the clock, time.Now when nil; tests may replace it.
	Now func() time.Time `yaml:"-"`
}

// DefaultOptions returns the defaults of every key.
func DefaultOptions() Options {
	return Options{
		Common:            config.DefaultCommon(":1337", ":1338"),
		BufferSize:        queue.DefaultCapacity,
		QueueType:         queue.Priority,
		Scheduler:         scheduler.PolicyPriority,
		SchedulerInterval: time.Second,
		WorkerTimeout:     60 * time.Second,
		SessionExpiry:     session.DefaultExpiry,
		MaxBatchBytes:     64 << 20,
		// A 1000-task batch of 4 KiB payloads is 4.1 MB; loadgen and the
		// benchmarks send at most 1000 tasks a batch.
		MaxBatchMessages: 100_000,
		// loadgen's CreateSession point opens Total (10,000 by default)
		// sessions without a client_id before it closes them.
		MaxSessionsPerClient: 100_000,
		// 10,000 workers (two streams each) and as many client streams,
		// with room; every stream costs a few goroutines and buffers.
		MaxStreams: 50_000,
		// A tenant keeps room for others: a fifth of the streams.
		MaxStreamsPerTenant: 10_000,
		// A ULID is 26 bytes; ids and tags are names, not payloads.
		MaxFieldBytes:      256,
		MaxTags:            64,
		MaxAttempts:        10,
		MaxInflightBatches: 1000,
		FirstBatchTimeout:  30 * time.Second,
		MaxHealthWatches:   1000,
		MaxSessionBytes:    1 << 30,
		MaxQueuedBytes:     8 << 30,
		// Room for a maxBatchBytes batch plus framing, as grpctune.Tuned.
		MaxMessageBytes: 80 << 20,
		// The SDK client multiplexes all its sessions on one connection
		// (the soak scale test: 10,000).
		MaxConcurrentStreams: 20_000,
		Keepalive:            grpctune.DefaultServerKeepalive(),
	}
}

// Validate reports every bad key.
func (o *Options) Validate() error {
	var p config.Problems
	o.Common.Validate(&p)
	if o.BufferSize < 1 {
		p.Add("bufferSize", "must be at least 1, got %d", o.BufferSize)
	}
	if o.SessionMetrics < 0 {
		p.Add("sessionMetrics", "must not be negative, got %d", o.SessionMetrics)
	}
	if !slices.Contains(queue.Kinds(), o.QueueType) {
		p.Add("queueType", "must be one of %v, got %q", queue.Kinds(), o.QueueType)
	}
	if !slices.Contains(scheduler.Policies(), string(o.Scheduler)) {
		p.Add("scheduler", "must be one of %v, got %q", scheduler.Policies(), o.Scheduler)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"schedulerInterval", o.SchedulerInterval}, {"workerTimeout", o.WorkerTimeout}, {"sessionExpiry", o.SessionExpiry},
		{"firstBatchTimeout", o.FirstBatchTimeout},
		{"keepaliveTimeout", o.Keepalive.Timeout}, {"maxConnectionIdle", o.Keepalive.MaxConnectionIdle},
	} {
		if d.v <= 0 {
			p.Add(d.key, "must be positive, got %v", d.v)
		}
	}
	if o.MaxBatchBytes < 1 {
		p.Add("maxBatchBytes", "must be positive, got %d", o.MaxBatchBytes)
	}
	// A batch under maxBatchBytes must get through gRPC to be checked.
	if o.MaxMessageBytes < o.MaxBatchBytes || o.MaxMessageBytes > math.MaxInt32 {
		p.Add("maxMessageBytes", "must be from maxBatchBytes (%d) to %d, got %d", o.MaxBatchBytes, math.MaxInt32, o.MaxMessageBytes)
	}
	for _, n := range []struct {
		key    string
		v, max int
	}{
		{"maxBatchMessages", o.MaxBatchMessages, math.MaxInt},
		{"maxSessionsPerClient", o.MaxSessionsPerClient, math.MaxInt},
		{"maxStreams", o.MaxStreams, math.MaxInt},
		{"maxStreamsPerTenant", o.MaxStreamsPerTenant, math.MaxInt},
		{"maxFieldBytes", o.MaxFieldBytes, math.MaxInt},
		{"maxTags", o.MaxTags, math.MaxInt},
		{"maxHealthWatches", o.MaxHealthWatches, math.MaxInt},
		{"maxAttempts", int(o.MaxAttempts), math.MaxUint32},
		{"maxInflightBatches", int(o.MaxInflightBatches), 1 << 20},
		{"maxConcurrentStreams", o.MaxConcurrentStreams, math.MaxUint32},
	} {
		if n.v < 1 || n.v > n.max {
			p.Add(n.key, "must be from 1 to %d, got %d", n.max, n.v)
		}
	}
	if o.MaxSessionBytes < 1 || o.MaxQueuedBytes < o.MaxSessionBytes {
		p.Add("maxSessionBytes", "must be from 1 to maxQueuedBytes (%v), got %v", o.MaxQueuedBytes, o.MaxSessionBytes)
	}
	if o.TaskTimeout < 0 {
		p.Add("taskTimeout", "must not be negative, got %v", o.TaskTimeout)
	}
	if o.Keepalive.Time < time.Second {
		p.Add("keepaliveTime", "must be at least 1s, got %v", o.Keepalive.Time)
	}
	return p.Err()
}
