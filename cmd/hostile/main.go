// Command hostile runs the ten hostile-tenant cases of issue 13 against the
// real binaries, each service a child process on loopback: an attacker and
// a victim tenant, both speaking the wire (proto/alpcrun/v1 stubs), and
// one row per case with what the victim got, the queue manager's and the
// central cache's VmRSS before and after the attack, the time, and PASS or
// FAIL against what the fixed system promises (docs/guarantees.md, "Threat
// model, as built").
//
//	go run ./cmd/hostile                      # HEAD's binaries, CI scale
//	go run ./cmd/hostile -full -bin DIR       # the numbers, DIR's binaries
//
// -bin names a directory holding queue-manager, central-cache and worker
// (go build -o DIR ./cmd/queue-manager ./cmd/central-cache ./cmd/worker);
// without it the harness builds them from the module it runs in. Binaries
// from before the key file had tenants and roles (found from their --help)
// run the way issue 13's reviewer ran them: one shared key for every
// party, and only the configuration keys they know; a row says what could
// not be set up. The exit status is 1 when any case fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"time"

	"github.com/alpcrun/alpcrun/internal/version"
)

// harness is what every case needs: the binaries, what they support, the
// keys of the parties.
type harness struct {
	bin, dir string
	full     bool
	// tenants: the key file gives keys a tenant and roles; without it
	// every party holds the one shared key.
	tenants        bool
	qmFlags        map[string]bool
	ccFlags        map[string]bool
	keyFile        string
	victimKey      string // tenant alice, role client
	attackerKey    string // tenant mallory, role client
	workerKey      string // role worker: the operators' workers
	sharedKeyEnv   []string
	victimTenant   string // prefix of the victim's session and shared-data ids
	attackerTenant string
	victimDeadline time.Duration
	caseLimit      time.Duration
}

// row is one line of the table.
type row struct {
	id, attack string
	victim     string // what the victim got
	qm, cc     [2]int64
	took       time.Duration
	pass       bool
	notes      []string
}

func (r *row) note(format string, a ...any) { r.notes = append(r.notes, fmt.Sprintf(format, a...)) }

type hostileCase struct {
	id, attack string
	run        func(ctx context.Context, h *harness, r *row) error
}

func main() {
	version.Handle("hostile", os.Args[1:])
	bin := flag.String("bin", "", "directory with queue-manager, central-cache and worker binaries (empty: build this module's)")
	full := flag.Bool("full", false, "the issue's numbers (50,000 streams, 30,000 watches, ...) instead of the CI scale")
	only := flag.String("cases", "", "comma-separated case ids to run (e.g. 1,6c); empty runs all")
	out := flag.String("out", "", "also write the table to this file")
	base := flag.Bool("base", false, "treat the binaries as pre-tenant ones (one shared key) even if they know key-file roles")
	flag.Parse()
	ok, err := run(*bin, *full, *base, *only, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run(bin string, full, base bool, only, out string) (bool, error) {
	dir, err := os.MkdirTemp("", "hostile-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "bin")
		fmt.Fprintln(os.Stderr, "hostile: building the binaries into", bin)
		cmd := exec.Command("go", "build", "-o", bin+"/",
			"github.com/alpcrun/alpcrun/cmd/queue-manager", "github.com/alpcrun/alpcrun/cmd/central-cache",
			"github.com/alpcrun/alpcrun/cmd/worker")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return false, fmt.Errorf("go build: %w", err)
		}
	}
	h := &harness{bin: bin, dir: dir, full: full, victimDeadline: 8 * time.Second, caseLimit: 90 * time.Second}
	if h.qmFlags, err = flagsOf(filepath.Join(bin, "queue-manager")); err != nil {
		return false, err
	}
	if h.ccFlags, err = flagsOf(filepath.Join(bin, "central-cache")); err != nil {
		return false, err
	}
	// Key-file tenants and roles came with maxStreamsPerTenant (issue 13).
	h.tenants = h.qmFlags["maxStreamsPerTenant"] && !base
	if h.tenants {
		h.keyFile = filepath.Join(dir, "keys")
		keys := "alice-key tenant=alice roles=client\nmallory-key tenant=mallory roles=client\nworker-key roles=worker\n"
		if err := os.WriteFile(h.keyFile, []byte(keys), 0o600); err != nil {
			return false, err
		}
		h.victimKey, h.attackerKey, h.workerKey = "alice-key", "mallory-key", "worker-key"
		h.victimTenant, h.attackerTenant = "alice:", "mallory:"
	} else {
		h.victimKey, h.attackerKey, h.workerKey = "shared-key", "shared-key", "shared-key"
		h.sharedKeyEnv = []string{"METALCORE_API_KEY=shared-key"}
	}
	mode := "key file: tenants alice (victim) and mallory (attacker), a worker key"
	if !h.tenants {
		mode = "one shared key for every party (binaries without key-file tenants)"
	}
	scale := "CI scale (-full for the issue's numbers)"
	if full {
		scale = "the issue's numbers (-full)"
	}
	header := fmt.Sprintf("hostile: binaries %s; %s; %s; victim deadline %v\n", bin, mode, scale, h.victimDeadline)
	fmt.Print(header)

	want := map[string]bool{}
	for _, id := range strings.Split(only, ",") {
		if id = strings.TrimSpace(id); id != "" {
			want[id] = true
		}
	}
	var rows []*row
	allPass := true
	for _, c := range cases {
		if len(want) > 0 && !want[c.id] && !want[strings.TrimRight(c.id, "abcd")] {
			continue
		}
		r := &row{id: c.id, attack: c.attack}
		ctx, cancel := context.WithTimeout(context.Background(), h.caseLimit)
		t0 := time.Now()
		err := c.run(ctx, h, r)
		r.took = time.Since(t0)
		cancel()
		if err != nil {
			r.pass = false
			r.note("error: %v", err)
		}
		allPass = allPass && r.pass
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "hostile: case %s %s in %.1fs\n", r.id, verdict(r.pass), r.took.Seconds())
	}
	var sb strings.Builder
	sb.WriteString(header)
	writeTable(&sb, rows)
	fmt.Print(sb.String()[len(header):])
	if out != "" {
		if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
			return allPass, err
		}
	}
	return allPass, nil
}

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

func mb(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%d", b>>20)
}

func writeTable(w io.Writer, rows []*row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tattack\tvictim got\tQM RSS MB\tCC RSS MB\ttime\tverdict")
	for _, r := range rows {
		cc := "-"
		if r.cc[0] != 0 {
			cc = mb(r.cc[0]) + " -> " + mb(r.cc[1])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1fs\t%s\n", r.id, r.attack, r.victim,
			mb(r.qm[0])+" -> "+mb(r.qm[1]), cc, r.took.Seconds(), verdict(r.pass))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nnotes:")
	for _, r := range rows {
		for _, n := range r.notes {
			fmt.Fprintf(w, "  %s: %s\n", r.id, n)
		}
	}
}

// qm starts a queue manager with the configuration pairs (key, value) the
// binary knows; the others are noted in r as not set up.
func (h *harness) qm(ctx context.Context, r *row, kv ...string) (*proc, error) {
	return h.qmAt(ctx, r, "", "", kv...)
}

func (h *harness) qmAt(ctx context.Context, r *row, addr, httpAddr string, kv ...string) (*proc, error) {
	args := h.known(r, "queue-manager", h.qmFlags, kv)
	return startService(ctx, h.dir, filepath.Join(h.bin, "queue-manager"), "queue-manager", addr, httpAddr, args, h.sharedKeyEnv)
}

// cc starts a central cache as qm does a queue manager.
func (h *harness) cc(ctx context.Context, r *row, kv ...string) (*proc, error) {
	args := h.known(r, "central-cache", h.ccFlags, kv)
	return startService(ctx, h.dir, filepath.Join(h.bin, "central-cache"), "central-cache", "", "", args, h.sharedKeyEnv)
}

func (h *harness) known(r *row, name string, flags map[string]bool, kv []string) []string {
	if h.tenants {
		kv = append(kv[:len(kv):len(kv)], "apiKeyFile", h.keyFile)
	}
	var args []string
	for i := 0; i+1 < len(kv); i += 2 {
		if !flags[kv[i]] {
			r.note("%s has no --%s: run without it", name, kv[i])
			continue
		}
		args = append(args, "--"+kv[i]+"="+kv[i+1])
	}
	return args
}

// worker starts the worker binary (echo, or --task) with the worker key.
func (h *harness) worker(addr string, task string) (*proc, error) {
	if task == "" {
		task = "echo"
	}
	p, err := start(h.dir, filepath.Join(h.bin, "worker"), "worker",
		[]string{"--queue-manager", addr, "--node-cache", "127.0.0.1:1", "--task", task, "--concurrency", "2", "--heartbeat", "2s"},
		[]string{"METALCORE_API_KEY=" + h.workerKey})
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
		return nil, fmt.Errorf("worker exited: %v\n%s", p.err, p.tail())
	default:
	}
	return p, nil
}
