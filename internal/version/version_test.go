package version

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRequested(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{[]string{"up", "--workers", "2", "--version"}, true},
		{[]string{"--", "--version"}, false},
		{[]string{"--versions"}, false},
	} {
		if got := Requested(c.args); got != c.want {
			t.Errorf("Requested(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}

func TestCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	want := `# HELP alpcrun_build_info Build of the running binary: module version, VCS revision and Go version; always 1.
# TYPE alpcrun_build_info gauge
alpcrun_build_info{goversion="` + runtime.Version() + `",revision="` + Get().Revision + `",version="` + Get().Version + `"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "alpcrun_build_info"); err != nil {
		t.Fatal(err)
	}
}

// TestEveryBinary builds every command under cmd/ and checks that it
// answers --version with its name and the Go version, and exits 0.
func TestEveryBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	mains, err := filepath.Glob(filepath.Join(root, "cmd", "*", "main.go"))
	if err != nil || len(mains) < 8 {
		t.Fatalf("commands under cmd/: %v, %v", mains, err)
	}
	bin := t.TempDir()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gobin, "build", "-o", bin+string(os.PathSeparator), "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, out)
	}
	for _, m := range mains {
		name := filepath.Base(filepath.Dir(m))
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(filepath.Join(bin, name), "--version").CombinedOutput()
			if err != nil {
				t.Fatalf("%s --version: %v\n%s", name, err, out)
			}
			if s := string(out); !strings.HasPrefix(s, name+" ") || !strings.Contains(s, runtime.Version()) {
				t.Fatalf("%s --version printed %q, want %q and the Go version", name, s, name+" …")
			}
		})
	}
}
