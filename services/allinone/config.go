package allinone

import (
	"flag"
	"net"
	"strings"

	"github.com/alpcrun/alpcrun/services/catalog"
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/internal/config"
	"github.com/alpcrun/alpcrun/services/nodecache"
	"github.com/alpcrun/alpcrun/services/queuemanager"
)

// Config is the in-process cluster: one section per service, with every
// key of that service's configuration file, and the workers. See the
// package doc for the keys whose meaning changes in one process.
type Config struct {
	QueueManager queuemanager.Options `yaml:"queueManager"`
	CentralCache centralcache.Options `yaml:"centralCache"`
	NodeCache    nodecache.Options    `yaml:"nodeCache"`

	Workers     int    `yaml:"workers" usage:"in-process workers"`
	Concurrency int    `yaml:"concurrency" usage:"task slots per worker"`
	LogLevel    string `yaml:"loglevel" usage:"log level of every service and worker, over the sections' own: debug, info, warn or error; empty: the sections' (workers: the queue manager's)"`
	LogFormat   string `yaml:"logformat" usage:"log format of every service and worker, over the sections' own: json or text; empty: the sections'"`
}

// DefaultConfig returns each service's defaults, on its standard ports, and
// four workers of one slot each.
func DefaultConfig() Config {
	return Config{
		QueueManager: queuemanager.DefaultOptions(),
		CentralCache: centralcache.DefaultOptions(),
		NodeCache:    nodecache.DefaultOptions(),
		Workers:      4,
		Concurrency:  1,
	}
}

// Validate reports every bad key.
func (c *Config) Validate() error {
	var p config.Problems
	c.check(&p)
	return p.Err()
}

func (c *Config) check(p *config.Problems) {
	addSection(p, "queueManager", c.QueueManager.Validate())
	addSection(p, "centralCache", c.CentralCache.Validate())
	addSection(p, "nodeCache", c.NodeCache.Validate())
	if c.Workers < 0 {
		p.Add("workers", "must not be negative, got %d", c.Workers)
	}
	if c.Concurrency < 1 {
		p.Add("concurrency", "must be at least 1, got %d", c.Concurrency)
	}
	switch strings.ToLower(c.LogLevel) {
	case "", "debug", "info", "warn", "error":
	default:
		p.Add("loglevel", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if f := strings.ToLower(c.LogFormat); f != "" && f != "json" && f != "text" {
		p.Add("logformat", "must be json or text, got %q", c.LogFormat)
	}
	if c.Workers > 0 {
		if c.QueueManager.TLS {
			p.Add("queueManager.tls", "the in-process workers dial plaintext; TLS needs workers: 0")
		}
		if c.NodeCache.TLS {
			p.Add("nodeCache.tls", "the in-process workers dial plaintext; TLS needs workers: 0")
		}
	}
}

// addSection records the problems a section's Validate reported, each
// under its full key ("queueManager.bufferSize").
func addSection(p *config.Problems, section string, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		key, msg, ok := strings.Cut(strings.TrimPrefix(e.Error(), "config: "), ": ")
		if !ok {
			p.Add(section, "%s", e.Error())
			continue
		}
		p.Add(section+"."+key, "%s", msg)
	}
}

// UpConfig is the configuration of `alpcrun up`: the cluster and the task
// its workers run when a payload names none.
type UpConfig struct {
	Config `yaml:",inline"`
	Task   string `yaml:"task" usage:"what the workers run when a task's payload names no kind: echo, sleep:DURATION (e.g. sleep:10ms), pi or european"`
}

// DefaultUpConfig is DefaultConfig with echo workers, every port on the
// loopback interface: a laptop's cluster is not offered to the network
// unless its listen keys say so (e.g. --queueManager.listen :1337).
func DefaultUpConfig() UpConfig {
	c := UpConfig{Config: DefaultConfig(), Task: "echo"}
	for _, sc := range []*config.Common{&c.QueueManager.Common, &c.CentralCache.Common, &c.NodeCache.Common} {
		sc.Listen, sc.HTTPListen = onLoopback(sc.Listen), onLoopback(sc.HTTPListen)
	}
	return c
}

// onLoopback moves a listen address without a host (":1337") to 127.0.0.1.
func onLoopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// Validate reports every bad key.
func (c *UpConfig) Validate() error {
	var p config.Problems
	c.check(&p)
	if _, err := catalog.Lookup(c.Task); err != nil {
		p.Add("task", "%v", err)
	}
	return p.Err()
}

// LoadUpConfig reads the configuration of `alpcrun up` from defaults, the
// YAML file of --config, ALPCRUNCH_* variables and flags registered on fs,
// and validates it; the error names every bad key. It returns
// flag.ErrHelp when args ask for help.
func LoadUpConfig(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (UpConfig, error) {
	cfg := DefaultUpConfig()
	err := config.Load(&cfg, fs, args, lookupEnv)
	return cfg, err
}

// DemoConfig is the configuration of `alpcrun demo`: the cluster it
// starts and the workload it runs.
type DemoConfig struct {
	Config         `yaml:",inline"`
	catalog.Market `yaml:",inline"`

	Paths     int64  `yaml:"paths" usage:"Monte Carlo paths in all (even)"`
	TaskPaths int64  `yaml:"taskPaths" usage:"paths per task (even)"`
	Seed      uint64 `yaml:"seed" usage:"random seed; task i draws from a stream keyed by (seed, i)"`
	Inflight  int    `yaml:"inflight" usage:"tasks submitted and not yet answered, at most"`
	Batch     int    `yaml:"batch" usage:"tasks per batch sent, at most (a batch runs on one worker)"`

	QueueManagerAddr string `yaml:"queueManagerAddr" usage:"price on the cluster of this queue manager instead of starting one (its workers must run the task catalog, as cmd/worker does)"`
	CentralCacheAddr string `yaml:"centralCacheAddr" usage:"with queueManagerAddr: the central cache that gets the market data"`
}

// DefaultDemoConfig prices an at-the-money one-year call by 10^7 paths in
// tasks of 10^4, on a cluster listening on free loopback ports without
// HTTP, logging errors only in text.
func DefaultDemoConfig() DemoConfig {
	c := DemoConfig{
		Config:    DefaultConfig(),
		Market:    catalog.Market{Spot: 100, Strike: 100, Rate: 0.05, Vol: 0.2, Maturity: 1},
		Paths:     10_000_000,
		TaskPaths: 10_000,
		Seed:      1,
		Inflight:  32,
		Batch:     8,
	}
	c.LogLevel, c.LogFormat = "error", "text"
	c.QueueManager.Listen, c.QueueManager.HTTPListen = "127.0.0.1:0", ""
	c.CentralCache.Listen, c.CentralCache.HTTPListen = "127.0.0.1:0", ""
	c.NodeCache.Listen, c.NodeCache.HTTPListen = "127.0.0.1:0", ""
	return c
}

// Validate reports every bad key.
func (c *DemoConfig) Validate() error {
	var p config.Problems
	c.Config.check(&p)
	c.Market.Check(&p)
	if c.Paths < 2 || c.Paths%2 != 0 {
		p.Add("paths", "must be even and positive (antithetic pairs), got %d", c.Paths)
	}
	if c.TaskPaths < 2 || c.TaskPaths%2 != 0 || c.TaskPaths > catalog.MaxTaskPaths {
		p.Add("taskPaths", "must be even, between 2 and %d, got %d", catalog.MaxTaskPaths, c.TaskPaths)
	}
	if c.Inflight < 1 {
		p.Add("inflight", "must be at least 1, got %d", c.Inflight)
	}
	if c.Batch < 1 {
		p.Add("batch", "must be at least 1, got %d", c.Batch)
	}
	if (c.QueueManagerAddr == "") != (c.CentralCacheAddr == "") {
		p.Add("centralCacheAddr", "queueManagerAddr and centralCacheAddr go together")
	}
	for _, s := range []struct {
		key string
		tls bool
	}{{"queueManager.tls", c.QueueManager.TLS}, {"centralCache.tls", c.CentralCache.TLS}} {
		if s.tls {
			p.Add(s.key, "the demo's client dials plaintext")
		}
	}
	return p.Err()
}

// LoadDemoConfig is LoadUpConfig for `alpcrun demo`.
func LoadDemoConfig(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (DemoConfig, error) {
	cfg := DefaultDemoConfig()
	err := config.Load(&cfg, fs, args, lookupEnv)
	return cfg, err
}
