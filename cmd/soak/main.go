// Command soak runs the lab's long-running checks against a queue manager
// in a child process (so that the memory measured is the queue manager's
// alone):
//
//	soak soak [-duration 10m] [-out bin/soak]   steady load with worker churn; RSS must not grow
//	soak scale [-sessions 10000] [-workers 1000] memory per session and worker, scheduler time per event
//
// Both exit non-zero when a bound is not met. "soak qm" is the child.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/alpcrun/alpcrun/internal/version"
	"github.com/alpcrun/alpcrun/services/queuemanager"
	"github.com/alpcrun/alpcrun/soak"
)

func main() {
	version.Handle("soak", os.Args[1:])
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: soak soak|scale|qm [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "qm":
		err = soak.ServeQM(ctx, queuemanager.DefaultOptions(), os.Stdin, os.Stdout)
	case "soak":
		err = runSoak(ctx, os.Args[2:])
	case "scale":
		err = runScale(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: want soak, scale or qm", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// startQM runs this executable's qm subcommand.
func startQM(ctx context.Context) (*soak.QM, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return soak.StartQM(ctx, exec.Command(exe, "qm"))
}

func runSoak(ctx context.Context, args []string) error {
	cfg := soak.DefaultConfig()
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "open-loop phase")
	fs.DurationVar(&cfg.Probe, "probe", cfg.Probe, "closed-loop phase measuring the maximum throughput")
	fs.Float64Var(&cfg.Load, "load", cfg.Load, "open-loop rate as a fraction of the maximum")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "between report lines")
	fs.Float64Var(&cfg.Warmup, "warmup", cfg.Warmup, "fraction of the duration after which the reference RSS is read")
	fs.Float64Var(&cfg.Tolerance, "tolerance", cfg.Tolerance, "RSS growth allowed after warm-up")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "workers kept registered")
	fs.DurationVar(&cfg.Churn, "churn", cfg.Churn, "one worker joins and one leaves this often")
	out := fs.String("out", "bin/soak", "folder for soak.csv and soak.png")
	_ = fs.Parse(args)
	cfg.Progress = os.Stdout

	qm, err := startQM(ctx)
	if err != nil {
		return err
	}
	defer qm.Close()
	fmt.Printf("soak: queue manager pid %d on %s\n", qm.Pid, qm.Addr)
	rep, err := soak.Run(ctx, qm, cfg)
	if err != nil {
		return err
	}
	rep.Write(os.Stdout)
	files, err := soak.WriteOutputs(*out, rep)
	if err != nil {
		return err
	}
	fmt.Println("soak: wrote", files)
	if len(rep.Failures()) > 0 {
		return fmt.Errorf("%d failures", len(rep.Failures()))
	}
	return nil
}

func runScale(ctx context.Context, args []string) error {
	cfg := soak.DefaultScaleConfig()
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	fs.IntVar(&cfg.Sessions, "sessions", cfg.Sessions, "sessions to open")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "workers to register")
	fs.IntVar(&cfg.Events, "events", cfg.Events, "scheduler events to time")
	fs.DurationVar(&cfg.MaxDecisionP99, "max-decision-p99", cfg.MaxDecisionP99, "bound on the scheduler's p99 per event")
	_ = fs.Parse(args)
	cfg.Progress = os.Stdout

	qm, err := startQM(ctx)
	if err != nil {
		return err
	}
	defer qm.Close()
	fmt.Printf("scale: queue manager pid %d on %s\n", qm.Pid, qm.Addr)
	rep, err := soak.RunScale(ctx, qm, cfg)
	if err != nil {
		return err
	}
	rep.Write(os.Stdout)
	if len(rep.Failures()) > 0 {
		return fmt.Errorf("%d failures", len(rep.Failures()))
	}
	return nil
}
