package centralcache

import (
	"log/slog"
	"time"

	"github.com/alpcrun/alpcrun/internal/cachewire"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alpcrun/alpcrun/core/cache"
	"github.com/alpcrun/alpcrun/services/internal/config"
)

// Options configure a central cache. Each tagged field is a key of its
// configuration file, also ALPCRUNCH_<KEY> in the environment and --<key>
// on the command line; a key is its field here, its default in
// DefaultOptions and its check in Validate. The untagged fields are set
// in code.
type Options struct {
	// Listeners, logging and TLS, which Run uses; New ignores them.
	config.Common `yaml:",inline"`

	MaxTTL          time.Duration   `yaml:"maxTTL" usage:"longest TTL of an entry, and the TTL of writes without one"`
	CleanupInterval time.Duration   `yaml:"cleanupInterval" usage:"how often expired entries are removed"`
	MaxPayload      config.ByteSize `yaml:"maxPayload" usage:"largest accepted shared-data payload (e.g. 64MiB)"`
	MaxBytes        config.ByteSize `yaml:"maxBytes" usage:"payload bytes held in all; writes past it get RESOURCE_EXHAUSTED"`

	// Logger defaults to discarding; Registerer to registering nowhere.
	Logger     *slog.Logger          `yaml:"-"`
	Registerer prometheus.Registerer `yaml:"-"`
	// Now is the clock, time.Now when nil; tests may replace it.
	Now func() time.Time `yaml:"-"`
}

// DefaultOptions returns the defaults of every key.
func DefaultOptions() Options {
	return Options{
		Common:          config.DefaultCommon(":2337", ":2338"),
		MaxTTL:          cache.DefaultMaxTTL,
		CleanupInterval: cache.DefaultCleanupInterval,
		MaxPayload:      cache.DefaultMaxPayload,
		MaxBytes:        4 << 30,
	}
}

// Validate reports every bad key.
func (o *Options) Validate() error {
	var p config.Problems
	o.Common.Validate(&p)
	if o.MaxTTL <= 0 {
		p.Add("maxTTL", "must be positive, got %v", o.MaxTTL)
	}
	if o.CleanupInterval <= 0 {
		p.Add("cleanupInterval", "must be positive, got %v", o.CleanupInterval)
	}
	if o.MaxBytes < o.MaxPayload {
		p.Add("maxBytes", "must be at least maxPayload (%v), got %v", o.MaxPayload, o.MaxBytes)
	}
	if o.MaxPayload < 1 || o.MaxPayload > cachewire.MaxPayloadLimit {
		p.Add("maxPayload", "must be between 1 and %v, got %v", config.ByteSize(cachewire.MaxPayloadLimit), o.MaxPayload)
	}
	return p.Err()
}
