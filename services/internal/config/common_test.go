package config

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommonValidate(t *testing.T) {
	c := DefaultCommon(":1337", "")
	var p Problems
	c.Validate(&p)
	if err := p.Err(); err != nil {
		t.Fatalf("defaults: %v", err)
	}

	missing := filepath.Join(t.TempDir(), "absent.pem")
	c = DefaultCommon("localhost:99999", "no-port")
	c.TLS = true
	c.CACert = missing
	c.APIKeyFile = missing
	p = Problems{}
	c.Validate(&p)
	msg := p.Err().Error()
	for _, want := range []string{
		"config: listen: invalid port", "config: httpListen: invalid address",
		"config: certFile: required when tls is true", "config: keyFile: required when tls is true",
		"config: caCert: stat " + missing, "config: apiKeyFile: stat " + missing,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems lack %q:\n%s", want, msg)
		}
	}

	c = DefaultCommon(":0", ":0")
	c.ClientCAFile = missing
	p = Problems{}
	c.Validate(&p)
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "config: clientCAFile: mutual TLS needs tls: true") {
		t.Errorf("clientCAFile without tls: %v", err)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	c := DefaultCommon(":1", "")
	c.AppID, c.LogLevel, c.LogFormat = "qm-1", "WARN", "text"
	l := newLogger(&buf, c)
	l.Info("hidden")
	l.Warn("shown")
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, "msg=shown") || !strings.Contains(out, "appid=qm-1") {
		t.Errorf("text logger at warn wrote %q", out)
	}

	buf.Reset()
	c.LogLevel, c.LogFormat = "debug", "json"
	newLogger(&buf, c).Debug("d")
	if out := buf.String(); !strings.Contains(out, `"msg":"d"`) || !strings.Contains(out, `"appid":"qm-1"`) {
		t.Errorf("json logger at debug wrote %q", out)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{
		"0": 0, "1048576": 1 << 20, "64MiB": 64 << 20, "1GiB": 1 << 30, "1.5KiB": 1536,
		"1GB": 1e9, "512 KB": 512e3, "7B": 7, "2TiB": 2 << 40,
	} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("UnmarshalText(%q) = %d, %v, want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1KiB", "ten", "1XB", "1e30TiB", "NaN"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) = %d, want an error", in, b)
		}
	}
	for b, want := range map[ByteSize]string{0: "0", 1 << 30: "1GiB", 1536: "1536", 64 << 20: "64MiB", 1e9: "1000000000"} {
		if got := b.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(b), got, want)
		}
	}
}
