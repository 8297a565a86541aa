package nodecache

import (
	"log/slog"
	"time"

	"github.com/alpcrun/alpcrun/internal/cachewire"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alpcrun/alpcrun/core/cache"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/internal/config"
)

// Options configure a node cache. Each tagged field is a key of its
// configuration file, also ALPCRUNCH_<KEY> in the environment and --<key>
// on the command line; a key is its field here, its default in
// DefaultOptions and its check in Validate. The untagged fields are set
// in code.
//
// Run dials the central cache over TLS when tls is true (the node cache
// then also serves TLS, with certFile and keyFile, which it presents to a
// central cache that asks for a client certificate) or when caCert is set
// (so that a node cache serving plaintext on localhost can still reach its
// central cache over TLS). Its own Gets carry METALCORE_API_KEY's key;
// writes carry the writer's, so that the central cache gives the shared
// data to the writer's tenant, not to the node cache's.
type Options struct {
	// Listeners, logging and TLS, which Run uses; New ignores them.
	config.Common `yaml:",inline"`

	// CacheSize bounds the bytes kept; 0 keeps nothing.
	CacheSize config.ByteSize `yaml:"cacheSize" usage:"bytes of shared data kept (e.g. 1GB); 0 keeps nothing"`
	// CentralCacheAddr is what Run dials; New uses Upstream.
	CentralCacheAddr string          `yaml:"centralCacheAddr" env:"METALCORE_CENTRAL_CACHE_ADDR" usage:"central cache address (host:port)"`
	MaxPayload       config.ByteSize `yaml:"maxPayload" usage:"largest accepted shared-data payload (e.g. 64MiB)"`
	CleanupInterval  time.Duration   `yaml:"cleanupInterval" usage:"how often expired entries are removed"`

	// Upstream is the central cache; New needs it. Its connection carries
	// no API key: each call names its own (UpstreamKey, or a writer's).
	Upstream pb.CacheClient `yaml:"-"`
	// UpstreamKey is the node cache's own API key, sent with the Gets it
	// makes for workers; Run takes it from METALCORE_API_KEY.
	UpstreamKey string `yaml:"-"`
	// Logger defaults to discarding; Registerer to registering nowhere.
	Logger     *slog.Logger          `yaml:"-"`
	Registerer prometheus.Registerer `yaml:"-"`
	// Now is the clock, time.Now when nil; tests may replace it.
	Now func() time.Time `yaml:"-"`
}

// DefaultOptions returns the defaults of every key (and no upstream).
func DefaultOptions() Options {
	return Options{
		Common:           config.DefaultCommon(":3337", ":3338"),
		CacheSize:        cache.DefaultCapacity,
		CentralCacheAddr: "localhost:2337",
		MaxPayload:       cache.DefaultMaxPayload,
		CleanupInterval:  cache.DefaultCleanupInterval,
	}
}

// Validate reports every bad key.
func (o *Options) Validate() error {
	var p config.Problems
	o.Common.Validate(&p)
	if o.CacheSize < 0 {
		p.Add("cacheSize", "must not be negative, got %d", int64(o.CacheSize))
	}
	p.CheckAddr("centralCacheAddr", o.CentralCacheAddr)
	if o.MaxPayload < 1 || o.MaxPayload > cachewire.MaxPayloadLimit {
		p.Add("maxPayload", "must be between 1 and %v, got %v", config.ByteSize(cachewire.MaxPayloadLimit), o.MaxPayload)
	}
	if o.CleanupInterval <= 0 {
		p.Add("cleanupInterval", "must be positive, got %v", o.CleanupInterval)
	}
	return p.Err()
}
