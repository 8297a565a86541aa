// Package version says which build a binary is, from the information the
// Go toolchain stamps into it (runtime/debug.ReadBuildInfo): the module
// version, the VCS revision (when built from a git checkout without
// -buildvcs=false) and the Go version. Every binary answers --version with
// it and every service exports it as alpcrun_build_info.
package version

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Info identifies a build. Fields the toolchain did not record are
// "unknown".
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goversion"`
}

// Get returns the build information of the running binary.
func Get() Info {
	info := Info{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if v := bi.Main.Version; v != "" {
		info.Version = v // "(devel)" for a build from a work tree
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one line --version prints after the binary's name.
func (i Info) String() string {
	rev := i.Revision
	if i.Modified {
		rev += " (modified)"
	}
	return fmt.Sprintf("%s revision %s %s", i.Version, rev, i.GoVersion)
}

// Requested reports whether args ask for the version: --version or
// -version before any "--".
func Requested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--version", "-version":
			return true
		}
	}
	return false
}

// Print writes "name version revision R goversion" to w.
func Print(w io.Writer, name string) { fmt.Fprintln(w, name, Get()) }

// Handle answers --version for a main: when args ask for it, it prints the
// version to stdout and exits 0. Call it first, before flags are parsed, so
// that it works whatever else is on the command line.
func Handle(name string, args []string) {
	if Requested(args) {
		Print(os.Stdout, name)
		os.Exit(0)
	}
}

// Collector returns the gauge alpcrun_build_info{version,revision,goversion},
// always 1, for a service's registry.
func Collector() prometheus.Collector {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "alpcrun_build_info",
		Help:        "Build of the running binary: module version, VCS revision and Go version; always 1.",
		ConstLabels: prometheus.Labels{"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion},
	})
	g.Set(1)
	return g
}
