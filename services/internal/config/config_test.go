package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Common           `yaml:",inline"`
	BufferSize       int           `yaml:"bufferSize" usage:"queue bound"`
	WorkerTimeout    time.Duration `yaml:"workerTimeout"`
	Preemption       bool          `yaml:"preemption"`
	MaxID            uint32        `yaml:"maxID"`
	Ratio            float64       `yaml:"ratio"`
	Big              int64         `yaml:"big"`
	Peers            []string      `yaml:"peers"`
	CacheSize        ByteSize      `yaml:"cacheSize"`
	CentralCacheAddr string        `yaml:"centralCacheAddr" env:"METALCORE_CENTRAL_CACHE_ADDR"`
	Sub              struct {
		Depth int `yaml:"depth"`
	} `yaml:"sub"`
	Internal string `yaml:"-"`
}

func defaultTestConfig() testConfig {
	return testConfig{
		Common:           DefaultCommon(":1337", ":1338"),
		BufferSize:       10,
		WorkerTimeout:    5 * time.Second,
		Ratio:            0.5,
		CacheSize:        1 << 30,
		CentralCacheAddr: "localhost:2337",
	}
}

func (c *testConfig) Validate() error {
	var p Problems
	c.Common.Validate(&p)
	if c.BufferSize <= 0 {
		p.Add("bufferSize", "must be positive, got %d", c.BufferSize)
	}
	if c.WorkerTimeout <= 0 {
		p.Add("workerTimeout", "must be positive, got %v", c.WorkerTimeout)
	}
	p.CheckAddr("centralCacheAddr", c.CentralCacheAddr)
	return p.Err()
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// load runs Load on the test defaults with a quiet flag set.
func load(t *testing.T, args []string, env map[string]string) (testConfig, error) {
	t.Helper()
	cfg := defaultTestConfig()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	err := Load(&cfg, fs, args, envOf(env))
	return cfg, err
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, `
appid: from-yaml
bufferSize: 100
workerTimeout: 10s
listen: ":1000"
`)
	cfg, err := load(t,
		[]string{"--config", path, "--listen", ":3000"},
		map[string]string{"ALPCRUNCH_WORKERTIMEOUT": "20s", "ALPCRUNCH_LISTEN": ":2000"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPListen != ":1338" {
		t.Errorf("httpListen = %q, want the default :1338", cfg.HTTPListen)
	}
	if cfg.AppID != "from-yaml" || cfg.BufferSize != 100 {
		t.Errorf("appid, bufferSize = %q, %d, want the YAML values from-yaml, 100", cfg.AppID, cfg.BufferSize)
	}
	if cfg.WorkerTimeout != 20*time.Second {
		t.Errorf("workerTimeout = %v, want the env value 20s", cfg.WorkerTimeout)
	}
	if cfg.Listen != ":3000" {
		t.Errorf("listen = %q, want the flag value :3000", cfg.Listen)
	}
}

func TestConfigPathFromEnv(t *testing.T) {
	path := writeFile(t, "bufferSize: 7\n")
	cfg, err := load(t, nil, map[string]string{"ALPCRUNCH_CONFIG": path})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BufferSize != 7 {
		t.Errorf("bufferSize = %d, want 7 from the file named by ALPCRUNCH_CONFIG", cfg.BufferSize)
	}
}

func TestEnvAlias(t *testing.T) {
	cfg, err := load(t, nil, map[string]string{"METALCORE_CENTRAL_CACHE_ADDR": "cc:1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CentralCacheAddr != "cc:1" {
		t.Errorf("centralCacheAddr = %q, want cc:1 from the alias", cfg.CentralCacheAddr)
	}
	cfg, err = load(t, nil, map[string]string{
		"METALCORE_CENTRAL_CACHE_ADDR":  "cc:1",
		"ALPCRUNCH_CENTRALCACHEADDR":    "cc:2",
		"ALPCRUNCH_UNRELATED_VARIABLE":  "x",
		"ALPCRUNCH_BUFFERSIZE_IS_EMPTY": "",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CentralCacheAddr != "cc:2" {
		t.Errorf("centralCacheAddr = %q, want cc:2: the prefixed variable wins over the alias", cfg.CentralCacheAddr)
	}
}

func TestEmptyEnvIgnored(t *testing.T) {
	cfg, err := load(t, nil, map[string]string{"ALPCRUNCH_BUFFERSIZE": "", "ALPCRUNCH_LISTEN": ""})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BufferSize != 10 || cfg.Listen != ":1337" {
		t.Errorf("bufferSize, listen = %d, %q, want the defaults", cfg.BufferSize, cfg.Listen)
	}
}

func TestTypes(t *testing.T) {
	path := writeFile(t, `
workerTimeout: 1m30s
maxID: 4294967295
ratio: 0.25
big: 9000000000
peers: [a:1, b:2]
cacheSize: 64MiB
sub:
  depth: 3
`)
	cfg, err := load(t, []string{"--config", path, "--preemption"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultTestConfig()
	want.WorkerTimeout = 90 * time.Second
	want.MaxID = 1<<32 - 1
	want.Ratio = 0.25
	want.Big = 9e9
	want.Peers = []string{"a:1", "b:2"}
	want.CacheSize = 64 << 20
	want.Sub.Depth = 3
	want.Preemption = true
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}

	cfg, err = load(t,
		[]string{"--preemption=false", "--peers", "x:1, y:2,", "--sub.depth", "4"},
		map[string]string{"ALPCRUNCH_PREEMPTION": "true", "ALPCRUNCH_CACHESIZE": "2GB", "ALPCRUNCH_SUB_DEPTH": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Preemption || !reflect.DeepEqual(cfg.Peers, []string{"x:1", "y:2"}) || cfg.CacheSize != 2e9 || cfg.Sub.Depth != 4 {
		t.Errorf("preemption, peers, cacheSize, sub.depth = %v, %q, %d, %d, want false, [x:1 y:2], 2e9, 4",
			cfg.Preemption, cfg.Peers, cfg.CacheSize, cfg.Sub.Depth)
	}

	path = writeFile(t, "peers: p:1,q:2\ncertFile:\n")
	cfg, err = load(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Peers, []string{"p:1", "q:2"}) {
		t.Errorf("peers = %q, want a comma-separated scalar split into [p:1 q:2]", cfg.Peers)
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	path := writeFile(t, `
bufferSize: lots
colour: blue
sub:
  depth: 1
  width: 2
peers:
  nested: map
`)
	_, err := load(t,
		[]string{"--config", path, "--maxID", "-1", "--loglevel", "loud"},
		map[string]string{
			"ALPCRUNCH_WORKERTIMEOUT": "5",
			"ALPCRUNCH_PREEMPTION":    "maybe",
			"ALPCRUNCH_RATIO":         "half",
			"ALPCRUNCH_LOGFORMAT":     "xml",
			"ALPCRUNCH_LISTEN":        "nowhere",
		})
	if err == nil {
		t.Fatal("Load succeeded on a bad configuration")
	}
	msg := err.Error()
	for _, want := range []string{
		"config: bufferSize: invalid number \"lots\" for int (file " + path + " line 2)",
		"config: colour: unknown key (file " + path + " line 3)",
		"config: sub.width: unknown key",
		"config: peers: want a single value",
		"config: maxID: invalid number \"-1\" for uint32 (flag --maxID)",
		"config: loglevel: must be debug, info, warn or error, got \"loud\"",
		"config: workerTimeout: invalid duration \"5\"",
		"(env ALPCRUNCH_WORKERTIMEOUT)",
		"config: preemption: invalid boolean \"maybe\"",
		"config: ratio: invalid number \"half\"",
		"config: logformat: must be json or text",
		"config: listen: invalid address \"nowhere\"",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q; it is:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != 11 {
		t.Errorf("error has %d lines, want one per problem (11):\n%s", n, msg)
	}
}

func TestValidateRunsOnDefaults(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.BufferSize = 0
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	err := Load(&cfg, fs, nil, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "config: bufferSize: must be positive, got 0") {
		t.Fatalf("Load = %v, want the Validate error on bufferSize", err)
	}
}

func TestFileProblems(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.yaml")
	if _, err := load(t, []string{"--config", missing}, nil); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("missing file: err = %v, want it named", err)
	}
	for name, content := range map[string]string{
		"not a mapping": "- a\n- b\n",
		"bad syntax":    "bufferSize: [1\n",
		"duplicate key": "bufferSize: 1\nbufferSize: 2\n",
	} {
		if _, err := load(t, []string{"--config", writeFile(t, content)}, nil); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
	if _, err := load(t, []string{"--config", writeFile(t, "")}, nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestFlagProblems(t *testing.T) {
	_, err := load(t, []string{"--nosuchflag", "1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "nosuchflag") {
		t.Errorf("unknown flag: err = %v, want it named", err)
	}
	_, err = load(t, []string{"--tls", "false"}, nil)
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "false"`) {
		t.Errorf("positional argument: err = %v, want it reported", err)
	}
}

func TestHelp(t *testing.T) {
	cfg := defaultTestConfig()
	var out bytes.Buffer
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&out)
	err := Load(&cfg, fs, []string{"-h"}, envOf(nil))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Load(-h) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{
		"-bufferSize int", "queue bound (int, env ALPCRUNCH_BUFFERSIZE) (default 10)",
		"-workerTimeout duration", "(default 5s)", "-cacheSize bytesize", "(default 1GiB)", "-peers list",
		"env ALPCRUNCH_CENTRALCACHEADDR or METALCORE_CENTRAL_CACHE_ADDR",
		"-sub.depth int", "-config file", "  -tls\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

type noTag struct {
	A int
}

func (noTag) Validate() error { return nil }

type dupKey struct {
	Common `yaml:",inline"`
	Listen string `yaml:"listen"`
}

func (dupKey) Validate() error { return nil }

type badType struct {
	M map[string]int `yaml:"m"`
}

func (badType) Validate() error { return nil }

func TestBadStructs(t *testing.T) {
	for name, cfg := range map[string]Validator{
		"no yaml tag":      &noTag{},
		"duplicate key":    &dupKey{},
		"unsupported type": &badType{},
		"not a pointer":    noTag{},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		if err := Load(cfg, fs, nil, envOf(nil)); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
	cfg := defaultTestConfig()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.Int("bufferSize", 0, "the caller's own flag")
	if err := Load(&cfg, fs, nil, envOf(nil)); err == nil || !strings.Contains(err.Error(), "--bufferSize") {
		t.Errorf("flag clash: err = %v, want it named", err)
	}
}
