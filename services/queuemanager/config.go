package queuemanager

import (
	"math"
	"slices"
	"time"

	"github.com/alpcrun/alpcrun/core/queue"
	"github.com/alpcrun/alpcrun/core/scheduler"
	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/internal/config"
)

// Config is the queue manager's configuration file (docs/design.md,
// Configuration). Every key is also ALPCRUNCH_<KEY> in the environment and
// --<key> on the command line.
type Config struct {
	config.Common `yaml:",inline"`

	BufferSize        int             `yaml:"bufferSize" usage:"capacity of each session queue, in batches"`
	QueueType         string          `yaml:"queueType" usage:"queue kind: priority, fifo, lockfree, mutex or speed"`
	Scheduler         string          `yaml:"scheduler" usage:"scheduler policy: priority, fairshare or roundrobin"`
	Preemption        bool            `yaml:"preemption" usage:"let sessions take workers from preemptible lower-priority sessions"`
	SchedulerInterval time.Duration   `yaml:"schedulerInterval" usage:"scheduler tick between event-driven decisions"`
	WorkerTimeout     time.Duration   `yaml:"workerTimeout" usage:"a worker silent this long is gone and its batches are requeued"`
	SessionExpiry     time.Duration   `yaml:"sessionExpiry" usage:"sessions without client activity this long are closed"`
	MaxBatchBytes     config.ByteSize `yaml:"maxBatchBytes" usage:"largest accepted task batch (e.g. 64MiB)"`
	RequireClientID   bool            `yaml:"requireClientID" usage:"serve a session only to calls with its client_id in metadata clientid"`

	// Limits against abuse (limits.go).
	MaxBatchMessages     int             `yaml:"maxBatchMessages" usage:"most messages in one task batch"`
	MaxMessageBytes      config.ByteSize `yaml:"maxMessageBytes" usage:"largest gRPC message received, task or result batch (at least maxBatchBytes)"`
	MaxSessionsPerClient int             `yaml:"maxSessionsPerClient" usage:"most open sessions created under one client_id; sessions created without one share a quota"`
	MaxStreams           int             `yaml:"maxStreams" usage:"most client and worker streams served at once"`
	MaxConcurrentStreams int             `yaml:"maxConcurrentStreams" usage:"most concurrent streams on one connection (HTTP/2 makes further ones wait)"`
	KeepaliveTime        time.Duration   `yaml:"keepaliveTime" usage:"ping a connection quiet this long (at least 1s)"`
	KeepaliveTimeout     time.Duration   `yaml:"keepaliveTimeout" usage:"close a connection whose ping is unanswered this long"`
	MaxConnectionIdle    time.Duration   `yaml:"maxConnectionIdle" usage:"close a connection without streams for this long"`
}

// DefaultConfig returns the defaults of docs/design.md, Configuration.
func DefaultConfig() Config {
	o := DefaultOptions()
	return Config{
		Common:            config.DefaultCommon(":1337", ":1338"),
		BufferSize:        o.BufferSize,
		QueueType:         string(o.QueueType),
		Scheduler:         o.Scheduler,
		SchedulerInterval: o.SchedulerInterval,
		WorkerTimeout:     o.WorkerTimeout,
		SessionExpiry:     o.SessionExpiry,
		MaxBatchBytes:     config.ByteSize(o.MaxBatchBytes),

		MaxBatchMessages:     o.MaxBatchMessages,
		MaxMessageBytes:      config.ByteSize(o.MaxMessageBytes),
		MaxSessionsPerClient: o.MaxSessionsPerClient,
		MaxStreams:           o.MaxStreams,
		MaxConcurrentStreams: o.MaxConcurrentStreams,
		KeepaliveTime:        o.Keepalive.Time,
		KeepaliveTimeout:     o.Keepalive.Timeout,
		MaxConnectionIdle:    o.Keepalive.MaxConnectionIdle,
	}
}

// Validate reports every bad key.
func (c *Config) Validate() error {
	var p config.Problems
	c.Common.Validate(&p)
	if c.BufferSize < 1 {
		p.Add("bufferSize", "must be at least 1, got %d", c.BufferSize)
	}
	if !slices.Contains(queue.Kinds(), queue.Kind(c.QueueType)) {
		p.Add("queueType", "must be one of %v, got %q", queue.Kinds(), c.QueueType)
	}
	if !slices.Contains(scheduler.Policies(), c.Scheduler) {
		p.Add("scheduler", "must be one of %v, got %q", scheduler.Policies(), c.Scheduler)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"schedulerInterval", c.SchedulerInterval}, {"workerTimeout", c.WorkerTimeout}, {"sessionExpiry", c.SessionExpiry},
		{"keepaliveTimeout", c.KeepaliveTimeout}, {"maxConnectionIdle", c.MaxConnectionIdle},
	} {
		if d.v <= 0 {
			p.Add(d.key, "must be positive, got %v", d.v)
		}
	}
	if c.MaxBatchBytes < 1 {
		p.Add("maxBatchBytes", "must be positive, got %d", c.MaxBatchBytes)
	}
	if c.MaxMessageBytes < c.MaxBatchBytes || c.MaxMessageBytes > math.MaxInt32 {
		p.Add("maxMessageBytes", "must be from maxBatchBytes (%d) to %d, got %d", c.MaxBatchBytes, math.MaxInt32, c.MaxMessageBytes)
	}
	for _, n := range []struct {
		key    string
		v, max int
	}{
		{"maxBatchMessages", c.MaxBatchMessages, math.MaxInt},
		{"maxSessionsPerClient", c.MaxSessionsPerClient, math.MaxInt},
		{"maxStreams", c.MaxStreams, math.MaxInt},
		{"maxConcurrentStreams", c.MaxConcurrentStreams, math.MaxUint32},
	} {
		if n.v < 1 || n.v > n.max {
			p.Add(n.key, "must be from 1 to %d, got %d", n.max, n.v)
		}
	}
	if c.KeepaliveTime < time.Second {
		p.Add("keepaliveTime", "must be at least 1s, got %v", c.KeepaliveTime)
	}
	return p.Err()
}

// Options turns the configuration into the server's options.
func (c *Config) Options() Options {
	return Options{
		BufferSize:        c.BufferSize,
		QueueType:         queue.Kind(c.QueueType),
		Scheduler:         c.Scheduler,
		Preemption:        c.Preemption,
		SchedulerInterval: c.SchedulerInterval,
		WorkerTimeout:     c.WorkerTimeout,
		SessionExpiry:     c.SessionExpiry,
		MaxBatchBytes:     int(c.MaxBatchBytes),
		RequireClientID:   c.RequireClientID,

		MaxBatchMessages:     c.MaxBatchMessages,
		MaxMessageBytes:      int(c.MaxMessageBytes),
		MaxSessionsPerClient: c.MaxSessionsPerClient,
		MaxStreams:           c.MaxStreams,
		MaxConcurrentStreams: c.MaxConcurrentStreams,
		Keepalive:            grpctune.ServerKeepalive{Time: c.KeepaliveTime, Timeout: c.KeepaliveTimeout, MaxConnectionIdle: c.MaxConnectionIdle},
	}
}
