// Command loadgen measures a deployed ALPCRUN.CH cluster (package loadgen):
// tasks through sessions, or with "loadgen unary" the control-plane calls.
// List flags expand to a matrix of runs, run one after another.
//
//	worker --task echo &   # as many as the cluster should have
//	loadgen --batch 1,10,100 --inflight 1000 --tasks 100000 --format bench > new.txt
//	loadgen --batch 1,100 --duration 2s --tasks 0 --count 6 --format bench --out new.txt
//	loadgen --rate 5000,10000 --duration 30s --warmup 5s
//	loadgen unary --calls CreateSession --concurrency 1,50 --total 10000
//	benchstat old.txt new.txt
//
// The workers must run the task the run assumes: --task echo, or --task
// sleep:D with --task-duration D. The bench format's "target:" line is the
// queue manager's address unless --label target=NAME names it; name it when
// runs against a cluster whose address changes (compose publishes random
// ports) are to be compared, since benchstat puts files whose configuration
// lines differ in separate tables. scripts/loadgen-compare.sh (make
// loadgen-up, make loadgen-compose) runs it against a cluster it starts.
//
// The addresses come from the flags, else $METALCORE_QUEUE_MANAGER_ADDR
// and $METALCORE_CENTRAL_CACHE_ADDR, else localhost:1337 and
// localhost:2337; the API key from $METALCORE_API_KEY.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alpcrun/alpcrun/internal/cli"
	"github.com/alpcrun/alpcrun/internal/version"
	"github.com/alpcrun/alpcrun/loadgen"
	"github.com/alpcrun/alpcrun/services/sdk"
)

func main() {
	version.Handle("loadgen", os.Args[1:])
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		cli.Fail(os.Stderr, "loadgen", err)
		os.Exit(1)
	}
}

// common binds the flags both modes share.
type common struct {
	format string
	out    string
	labels []loadgen.Label
}

func bindCommon(fs *flag.FlagSet, t *loadgen.Target, c *common) {
	fs.StringVar(&t.QueueManager, "queue-manager", t.QueueManager, "queue manager address (env "+sdk.EnvQueueManagerAddr+")")
	fs.StringVar(&t.CentralCache, "central-cache", t.CentralCache, "central cache address, for shared data (env "+sdk.EnvCentralCacheAddr+")")
	fs.BoolVar(&t.TLS, "tls", false, "dial with TLS")
	fs.StringVar(&t.CACert, "ca-cert", "", "PEM CA bundle that verifies the servers (default: system roots)")
	fs.StringVar(&t.CertFile, "cert", "", "client certificate, for mutual TLS")
	fs.StringVar(&t.KeyFile, "key", "", "client key, for mutual TLS")
	fs.StringVar(&c.format, "format", "summary", "output: summary, json or bench (Go benchmark format)")
	fs.StringVar(&c.out, "out", "", "write the report to this file instead of stdout; stdout then gets the summary (unless --format is summary)")
	label := func(key string) func(string) error {
		return func(v string) error { c.labels = append(c.labels, loadgen.Label{Key: key, Value: v}); return nil }
	}
	fs.Func("commit", "commit of the system under test, a config line of the bench format", label("commit"))
	fs.Func("label-queue", "queue kind of the queue manager (config line queue:)", label("queue"))
	fs.Func("label", "extra config line key=value (repeatable)", func(s string) error {
		l, err := loadgen.ParseLabel(s)
		c.labels = append(c.labels, l)
		return err
	})
}

func list[T any](fs *flag.FlagSet, dst *[]T, name, usage string, parse func(string) ([]T, error)) {
	fs.Func(name, usage, func(s string) (err error) { *dst, err = parse(s); return err })
}

func run(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && args[0] == "unary" {
		cfg, c, err := parseUnary(args[1:])
		if err != nil {
			return err
		}
		rep, err := loadgen.RunUnary(ctx, cfg)
		return output(&rep, len(rep.Runs), c, os.Stdout, err)
	}
	cfg, c, err := parseRun(args)
	if err != nil {
		return err
	}
	cfg.Progress, cfg.Terminal = os.Stderr, isTerminal(os.Stderr)
	rep, err := loadgen.Run(ctx, cfg)
	return output(&rep, len(rep.Runs), c, os.Stdout, err)
}

// options are the parsed output flags.
type options struct {
	format loadgen.Format
	out    string
}

// finish checks the output flags once fs has parsed them.
func (c *common) finish() (options, error) {
	f, err := loadgen.ParseFormat(c.format)
	return options{format: f, out: c.out}, err
}

func parseRun(args []string) (loadgen.Config, options, error) {
	cfg, c := loadgen.DefaultConfig(), common{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: loadgen [flags]          tasks through sessions\n       loadgen unary [flags]    control-plane calls (loadgen unary -h)\n\nflags of loadgen:\n")
		fs.PrintDefaults()
	}
	bindCommon(fs, &cfg.Target, &c)
	fs.StringVar(&cfg.AppID, "app", cfg.AppID, "application id of the sessions")
	list(fs, &cfg.Sessions, "sessions", "sessions, each on its own connection (list, default 1)", loadgen.ParseInts)
	list(fs, &cfg.Batch, "batch", "tasks per batch (list, default 100)", loadgen.ParseInts)
	list(fs, &cfg.Payload, "payload", "task payload bytes, e.g. 64,4Ki (list, default 64)", loadgen.ParseInts)
	list(fs, &cfg.SharedData, "shared", "shared data bytes per session, 0: none (list, default 0)", loadgen.ParseInts)
	list(fs, &cfg.Inflight, "inflight", "closed loop: unanswered tasks per session (list, default 1000 without --rate)", loadgen.ParseInts)
	list(fs, &cfg.Rate, "rate", "open loop: tasks/s over all sessions (list)", loadgen.ParseFloats)
	fs.DurationVar(&cfg.TaskDuration, "task-duration", 0, "what a task takes on the workers (start them with --task sleep:D); a label")
	fs.IntVar(&cfg.Count, "count", 1, "passes over the whole matrix, one run of each point per pass: benchstat's samples")
	fs.IntVar(&cfg.Tasks, "tasks", cfg.Tasks, "measured tasks per run, 0: --duration only")
	fs.DurationVar(&cfg.Duration, "duration", 0, "measured time per run, 0: --tasks only")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "warm-up time per run, not recorded")
	fs.IntVar(&cfg.WarmupTasks, "warmup-tasks", cfg.WarmupTasks, "warm-up tasks per run, not recorded")
	fs.DurationVar(&cfg.DrainTimeout, "drain", cfg.DrainTimeout, "wait this long for the last results of a run")
	fs.DurationVar(&cfg.ProgressInterval, "progress", 0, "progress line interval (default 250ms on a terminal, 5s otherwise)")
	if err := fs.Parse(args); err != nil {
		return cfg, options{}, err
	}
	cfg.Labels = c.labels
	o, err := c.finish()
	return cfg, o, err
}

func parseUnary(args []string) (loadgen.UnaryConfig, options, error) {
	cfg, c := loadgen.DefaultUnaryConfig(), common{}
	fs := flag.NewFlagSet("loadgen unary", flag.ContinueOnError)
	bindCommon(fs, &cfg.Target, &c)
	fs.StringVar(&cfg.AppID, "app", cfg.AppID, "application id of the sessions CreateSession creates")
	list(fs, &cfg.Calls, "calls", "calls to measure: CreateSession, GetSharedData (list, default both)",
		func(s string) ([]string, error) { return loadgen.ParseStrings(s), nil })
	list(fs, &cfg.Concurrency, "concurrency", "concurrent callers (list, default 50)", loadgen.ParseInts)
	list(fs, &cfg.Rate, "rps", "calls/s cap, 0: none (list, default 0)", loadgen.ParseInts)
	fs.IntVar(&cfg.Connections, "connections", cfg.Connections, "gRPC connections the callers share")
	fs.IntVar(&cfg.Total, "total", cfg.Total, "measured calls per run")
	fs.IntVar(&cfg.WarmupCalls, "warmup-calls", cfg.WarmupCalls, "warm-up calls per run, not recorded")
	fs.DurationVar(&cfg.Duration, "duration", 0, "time per run instead of --total")
	fs.DurationVar(&cfg.CallTimeout, "timeout", cfg.CallTimeout, "timeout of one call")
	fs.IntVar(&cfg.SharedDataSize, "shared", cfg.SharedDataSize, "bytes of shared data GetSharedData reads")
	fs.BoolVar(&cfg.Reflection, "reflection", false, "get the service descriptors by gRPC reflection, not from the binary")
	if err := fs.Parse(args); err != nil {
		return cfg, options{}, err
	}
	cfg.Labels = c.labels
	o, err := c.finish()
	return cfg, o, err
}

// output writes what was measured, also when a run was interrupted: the
// report to stdout, or to o.out and then the summary to stdout.
func output(rep interface {
	Write(io.Writer, loadgen.Format) error
}, runs int, o options, stdout io.Writer, err error) error {
	if runs == 0 {
		return err
	}
	var errs []error
	if o.out == "" {
		errs = append(errs, rep.Write(stdout, o.format))
	} else {
		errs = append(errs, writeFile(o.out, func(w io.Writer) error { return rep.Write(w, o.format) }))
		if o.format != loadgen.FormatSummary {
			errs = append(errs, rep.Write(stdout, loadgen.FormatSummary))
		}
	}
	return errors.Join(append([]error{err}, errs...)...)
}

func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	err = write(f)
	return errors.Join(err, f.Close())
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
