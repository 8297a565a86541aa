package config

import (
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzConfig has a field of every supported type.
type fuzzConfig struct {
	Name     string        `yaml:"name" env:"FUZZ_NAME_ALIAS"`
	On       bool          `yaml:"on"`
	I        int           `yaml:"i"`
	I8       int8          `yaml:"i8"`
	I16      int16         `yaml:"i16"`
	I32      int32         `yaml:"i32"`
	I64      int64         `yaml:"i64"`
	U        uint          `yaml:"u"`
	U8       uint8         `yaml:"u8"`
	U16      uint16        `yaml:"u16"`
	U32      uint32        `yaml:"u32"`
	U64      uint64        `yaml:"u64"`
	F32      float32       `yaml:"f32"`
	F64      float64       `yaml:"f64"`
	Wait     time.Duration `yaml:"wait"`
	List     []string      `yaml:"list"`
	Size     ByteSize      `yaml:"size"`
	Inlined  fuzzInline    `yaml:",inline"`
	Section  fuzzSection   `yaml:"section"`
	Excluded string        `yaml:"-"`
}

type fuzzInline struct {
	Addr string `yaml:"addr"`
}

type fuzzSection struct {
	Depth int `yaml:"depth"`
	Inner struct {
		X uint8 `yaml:"x"`
	} `yaml:"inner"`
}

func (c *fuzzConfig) Validate() error {
	var p Problems
	if math.IsNaN(c.F64) {
		p.Add("f64", "must be a number")
	}
	if c.Inlined.Addr != "" {
		p.CheckAddr("addr", c.Inlined.Addr)
	}
	return p.Err()
}

var fuzzKeys = []string{"name", "on", "i", "i8", "i16", "i32", "i64", "u", "u8", "u16", "u32", "u64",
	"f32", "f64", "wait", "list", "size", "addr", "section.depth", "section.inner.x"}

// leafErrors flattens joined errors.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// FuzzLoad feeds an arbitrary YAML file, environment value and flag value
// to Load: it never panics, every problem names its key (or the file, for
// one that is not valid YAML), and a flag that applies cleanly wins.
//
//	go test -run '^$' -fuzz FuzzLoad -fuzztime 30s ./services/internal/config
func FuzzLoad(f *testing.F) {
	f.Add("name: x\non: true\ni: 0x10\nlist: [a, b]\nsize: 1GiB\nsection:\n  depth: 3\n", "5s", "y", uint8(14))
	f.Add("i8: 128\nu8: -1\nf32: 1e39\nwait: 5\n", "1,2,,3", "--", uint8(15))
	f.Add("a: &x {depth: 1}\nsection: *x\n", "NaN", "nan", uint8(13))
	f.Add("section: 3\nname: [1]\nlist: [[a]]\n", "", "", uint8(1))
	f.Add("- a\n- b\n", "9223372036854775807", "18446744073709551616", uint8(10))
	f.Add("name: x\nname: y\nunknown: 1\nsection: {inner: {x: 300}}\n", "1.5TiB", "-1B", uint8(16))
	f.Add(":\n\t- {", "host:99999", "localhost:0", uint8(17))
	f.Add("on: ~\nlist: null\naddr: ':80'\n", "false", "true", uint8(0))
	// One file per process, rewritten by each run: a fresh temporary
	// directory per run would cost more than Load itself.
	path := filepath.Join(f.TempDir(), "c.yaml")
	f.Fuzz(func(t *testing.T, file, env, flagVal string, which uint8) {
		key := fuzzKeys[int(which)%len(fuzzKeys)]
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		envName := EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		lookup := envOf(map[string]string{envName: env, "FUZZ_NAME_ALIAS": env})
		fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg fuzzConfig
		err := Load(&cfg, fs, []string{"--config", path, "--" + key + "=" + flagVal}, lookup)
		if err == nil {
			if key == "name" && cfg.Name != flagVal {
				t.Fatalf("name = %q, want the flag's %q", cfg.Name, flagVal)
			}
			return
		}
		if errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Load returned ErrHelp for %q", flagVal)
		}
		for _, e := range leafErrors(err) {
			msg := e.Error()
			if strings.Contains(msg, path) {
				continue
			}
			named := false
			for _, k := range fuzzKeys {
				named = named || strings.HasPrefix(msg, "config: "+k+": ")
			}
			if !named {
				t.Fatalf("error names neither a key nor the file: %q", msg)
			}
		}
	})
}
