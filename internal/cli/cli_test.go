package cli

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	for _, c := range []struct{ name, err, want string }{
		{"loadgen", "loadgen: bad config", "loadgen: bad config"},
		{"worker", "tlsconf: open x", "worker: tlsconf: open x"},
		{"client", "clientele", "client: clientele"},
	} {
		if got := Line(c.name, errors.New(c.err)); got != c.want {
			t.Errorf("Line(%q, %q) = %q, want %q", c.name, c.err, got, c.want)
		}
	}
}

// TestHelp builds every command and checks that -h and --help, on the
// command and on each subcommand, exit 0 with usage text, and do nothing
// else: a command that went on to serve would be killed at the deadline
// and fail.
func TestHelp(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	bin := t.TempDir()
	build := exec.Command(goTool, "build", "-o", bin, "./cmd/...", "./examples/client", "./scripts/gatecheck")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		cmd  string
		args []string
		want string // in the usage, besides the flags
	}{
		{"alpcrun", nil, "alpcrun demo"},
		{"alpcrun", []string{"up"}, "-workers"},
		{"alpcrun", []string{"demo"}, "-paths"},
		{"benchplot", nil, "-filter"},
		{"central-cache", nil, "-maxTTL"},
		{"node-cache", nil, "-centralCacheAddr"},
		{"queue-manager", nil, "-queueType"},
		{"loadgen", nil, "loadgen unary"},
		{"loadgen", []string{"unary"}, "-calls"},
		{"soak", nil, "soak scale"},
		{"soak", []string{"soak"}, "-duration"},
		{"soak", []string{"scale"}, "-sessions"},
		{"soak", []string{"qm"}, "usage: soak qm"},
		{"worker", nil, "-task"},
		{"client", nil, "-samples"},
		{"gatecheck", nil, "floors"},
		{"gatecheck", []string{"floors"}, "-in"},
		{"gatecheck", []string{"paired"}, "-base"},
		{"gatecheck", []string{"baseline"}, "-baseline"},
	} {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, c.args...), h)
			name := strings.Join(append([]string{c.cmd}, args...), " ")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			out, err := exec.CommandContext(ctx, filepath.Join(bin, c.cmd), args...).CombinedOutput()
			cancel()
			if err != nil {
				t.Errorf("%s: %v\n%s", name, err, out)
				continue
			}
			if !strings.Contains(strings.ToLower(string(out)), "usage") || !strings.Contains(string(out), c.want) {
				t.Errorf("%s: usage lacks %q:\n%s", name, c.want, out)
			}
		}
	}
}
