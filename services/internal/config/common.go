package config

import (
	"io"
	"log/slog"
	"os"
	"strings"
)

// Common holds the keys every service has. Services embed it with
// `yaml:",inline"` so that its keys sit at the top level of their file.
type Common struct {
	AppID      string `yaml:"appid" usage:"application id written on every log line"`
	LogLevel   string `yaml:"loglevel" usage:"log level: debug, info, warn or error"`
	LogFormat  string `yaml:"logformat" usage:"log format: json or text"`
	Listen     string `yaml:"listen" usage:"gRPC listen address (host:port)"`
	HTTPListen string `yaml:"httpListen" usage:"metrics and health listen address (host:port; 127.0.0.1:port keeps it on the host); empty disables it"`
	// MetricsAuth puts /metrics (and every page but the probes) behind the
	// API keys; DebugListen serves pprof and fgprof on a listener of their
	// own, off unless set: profiles cost CPU and show the process's
	// memory.
	MetricsAuth bool   `yaml:"metricsAuth" usage:"/metrics needs an API key too (X-API-Key or Authorization: Bearer); /healthz and /readyz stay open"`
	DebugListen string `yaml:"debugListen" usage:"pprof and fgprof listen address (host:port), for profiling only; empty (the default) serves none"`

	TLS          bool   `yaml:"tls" usage:"serve gRPC over TLS (needs certFile and keyFile)"`
	CertFile     string `yaml:"certFile" usage:"PEM certificate file"`
	KeyFile      string `yaml:"keyFile" usage:"PEM private key file"`
	CACert       string `yaml:"caCert" usage:"PEM CA bundle to verify the servers this service dials; empty uses the system roots"`
	ClientCAFile string `yaml:"clientCAFile" usage:"PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS)"`
	APIKeyFile   string `yaml:"apiKeyFile" usage:"file of accepted API keys, one per line as KEY [tenant=NAME] [roles=client,worker,admin], besides METALCORE_API_KEY"`
}

// DefaultCommon returns the common defaults with the service's own
// addresses: info level, JSON logs, no TLS.
func DefaultCommon(listen, httpListen string) Common {
	return Common{LogLevel: "info", LogFormat: "json", Listen: listen, HTTPListen: httpListen}
}

// Validate records the problems of the common keys in p.
func (c *Common) Validate(p *Problems) {
	if _, ok := levels[strings.ToLower(c.LogLevel)]; !ok {
		p.Add("loglevel", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if f := strings.ToLower(c.LogFormat); f != "json" && f != "text" {
		p.Add("logformat", "must be json or text, got %q", c.LogFormat)
	}
	p.CheckAddr("listen", c.Listen)
	if c.HTTPListen != "" {
		p.CheckAddr("httpListen", c.HTTPListen)
	}
	if c.DebugListen != "" {
		p.CheckAddr("debugListen", c.DebugListen)
	}
	if c.TLS {
		if c.CertFile == "" {
			p.Add("certFile", "required when tls is true")
		}
		if c.KeyFile == "" {
			p.Add("keyFile", "required when tls is true")
		}
	} else if c.ClientCAFile != "" {
		p.Add("clientCAFile", "mutual TLS needs tls: true")
	}
	for _, f := range []struct{ key, path string }{
		{"certFile", c.CertFile}, {"keyFile", c.KeyFile}, {"caCert", c.CACert},
		{"clientCAFile", c.ClientCAFile}, {"apiKeyFile", c.APIKeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			p.Add(f.key, "%v", err)
		}
	}
}

var levels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

// NewLogger returns a logger writing to stderr at the configured level and
// format, with the appid on every line when set. Unknown values, which
// Validate rejects, fall back to info and JSON.
func NewLogger(c Common) *slog.Logger {
	return newLogger(os.Stderr, c)
}

func newLogger(w io.Writer, c Common) *slog.Logger {
	opts := &slog.HandlerOptions{Level: levels[strings.ToLower(c.LogLevel)]}
	var h slog.Handler
	if strings.ToLower(c.LogFormat) == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	l := slog.New(h)
	if c.AppID != "" {
		l = l.With("appid", c.AppID)
	}
	return l
}
