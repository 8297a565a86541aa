package nodecache

import (
	"time"

	"github.com/alpcrun/alpcrun/services/internal/cachewire"
	"github.com/alpcrun/alpcrun/services/internal/config"
)

// Config is the node cache's configuration file (docs/design.md,
// Configuration). Every key is also ALPCRUNCH_<KEY> in the environment and
// --<key> on the command line.
//
// The central cache is dialled over TLS when tls is true (the node cache
// then also serves TLS, with certFile and keyFile, which it presents to a
// central cache that asks for a client certificate) or when caCert is set
// (so that a node cache serving plaintext on localhost can still reach its
// central cache over TLS). The API key sent is METALCORE_API_KEY's.
type Config struct {
	config.Common `yaml:",inline"`

	CacheSize        config.ByteSize `yaml:"cacheSize" usage:"bytes of shared data kept (e.g. 1GB); 0 keeps nothing"`
	CentralCacheAddr string          `yaml:"centralCacheAddr" env:"METALCORE_CENTRAL_CACHE_ADDR" usage:"central cache address (host:port)"`
	MaxPayload       config.ByteSize `yaml:"maxPayload" usage:"largest accepted shared-data payload (e.g. 64MiB)"`
	CleanupInterval  time.Duration   `yaml:"cleanupInterval" usage:"how often expired entries are removed"`
}

// DefaultConfig returns the defaults of docs/design.md, Configuration.
func DefaultConfig() Config {
	o := DefaultOptions()
	return Config{
		Common:           config.DefaultCommon(":3337", ":3338"),
		CacheSize:        config.ByteSize(o.CacheSize),
		CentralCacheAddr: "localhost:2337",
		MaxPayload:       config.ByteSize(o.MaxPayload),
		CleanupInterval:  o.CleanupInterval,
	}
}

// Validate reports every bad key.
func (c *Config) Validate() error {
	var p config.Problems
	c.Common.Validate(&p)
	if c.CacheSize < 0 {
		p.Add("cacheSize", "must not be negative, got %d", int64(c.CacheSize))
	}
	p.CheckAddr("centralCacheAddr", c.CentralCacheAddr)
	if c.MaxPayload < 1 || c.MaxPayload > cachewire.MaxPayloadLimit {
		p.Add("maxPayload", "must be between 1 and %v, got %v", config.ByteSize(cachewire.MaxPayloadLimit), c.MaxPayload)
	}
	if c.CleanupInterval <= 0 {
		p.Add("cleanupInterval", "must be positive, got %v", c.CleanupInterval)
	}
	return p.Err()
}

// Options turns the configuration into the server's options, without the
// upstream.
func (c *Config) Options() Options {
	return Options{CacheSize: int64(c.CacheSize), MaxPayload: int(c.MaxPayload), CleanupInterval: c.CleanupInterval}
}
