package centralcache

import (
	"time"

	"github.com/alpcrun/alpcrun/services/internal/cachewire"
	"github.com/alpcrun/alpcrun/services/internal/config"
)

// Config is the central cache's configuration file (docs/design.md,
// Configuration). Every key is also ALPCRUNCH_<KEY> in the environment and
// --<key> on the command line.
type Config struct {
	config.Common `yaml:",inline"`

	MaxTTL          time.Duration   `yaml:"maxTTL" usage:"longest TTL of an entry, and the TTL of writes without one"`
	CleanupInterval time.Duration   `yaml:"cleanupInterval" usage:"how often expired entries are removed"`
	MaxPayload      config.ByteSize `yaml:"maxPayload" usage:"largest accepted shared-data payload (e.g. 64MiB)"`
}

// DefaultConfig returns the defaults of docs/design.md, Configuration.
func DefaultConfig() Config {
	o := DefaultOptions()
	return Config{
		Common:          config.DefaultCommon(":2337", ":2338"),
		MaxTTL:          o.MaxTTL,
		CleanupInterval: o.CleanupInterval,
		MaxPayload:      config.ByteSize(o.MaxPayload),
	}
}

// Validate reports every bad key.
func (c *Config) Validate() error {
	var p config.Problems
	c.Common.Validate(&p)
	if c.MaxTTL <= 0 {
		p.Add("maxTTL", "must be positive, got %v", c.MaxTTL)
	}
	if c.CleanupInterval <= 0 {
		p.Add("cleanupInterval", "must be positive, got %v", c.CleanupInterval)
	}
	if c.MaxPayload < 1 || c.MaxPayload > cachewire.MaxPayloadLimit {
		p.Add("maxPayload", "must be between 1 and %v, got %v", config.ByteSize(cachewire.MaxPayloadLimit), c.MaxPayload)
	}
	return p.Err()
}

// Options turns the configuration into the server's options.
func (c *Config) Options() Options {
	return Options{MaxTTL: c.MaxTTL, CleanupInterval: c.CleanupInterval, MaxPayload: int(c.MaxPayload)}
}
