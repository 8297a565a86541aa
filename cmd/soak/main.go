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
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/alpcrun/alpcrun/internal/cli"
	"github.com/alpcrun/alpcrun/internal/version"
	"github.com/alpcrun/alpcrun/services/queuemanager"
	"github.com/alpcrun/alpcrun/soak"
)

const usage = `usage: soak soak [flags]    steady load with worker churn; RSS must not grow
       soak scale [flags]   memory per session and worker, scheduler time per event
       soak qm              the queue manager child the other two start
       soak CMD -h          flags of CMD
`

func main() {
	version.Handle("soak", os.Args[1:])
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if cli.IsHelp(os.Args[1]) {
		fmt.Print(usage)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "qm":
		err = runQM(ctx, args)
	case "soak":
		err = runSoak(ctx, args)
	case "scale":
		err = runScale(ctx, args)
	default:
		err = fmt.Errorf("unknown subcommand %q\n%s", cmd, usage)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		cli.Fail(os.Stderr, "soak", err)
		os.Exit(1)
	}
}

// runQM serves the child's queue manager; it takes no flags but -h.
func runQM(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("soak qm", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: soak qm\n\nServes a queue manager on free loopback ports for soak and scale, and\nwrites \"qm grpc=ADDR http=ADDR\" to stdout once serving; no flags.")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	return soak.ServeQM(ctx, queuemanager.DefaultOptions(), os.Stdin, os.Stdout)
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
	fs := flag.NewFlagSet("soak soak", flag.ContinueOnError)
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "open-loop phase")
	fs.DurationVar(&cfg.Probe, "probe", cfg.Probe, "closed-loop phase measuring the maximum throughput")
	fs.Float64Var(&cfg.Load, "load", cfg.Load, "open-loop rate as a fraction of the maximum")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "between report lines")
	fs.Float64Var(&cfg.Warmup, "warmup", cfg.Warmup, "fraction of the duration after which the reference RSS is read")
	fs.Float64Var(&cfg.Tolerance, "tolerance", cfg.Tolerance, "RSS growth allowed after warm-up")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "workers kept registered")
	fs.DurationVar(&cfg.Churn, "churn", cfg.Churn, "one worker joins and one leaves this often")
	out := fs.String("out", "bin/soak", "folder for soak.csv and soak.png")
	if err := fs.Parse(args); err != nil {
		return err
	}
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
	fs := flag.NewFlagSet("soak scale", flag.ContinueOnError)
	fs.IntVar(&cfg.Sessions, "sessions", cfg.Sessions, "sessions to open")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "workers to register")
	fs.IntVar(&cfg.Events, "events", cfg.Events, "scheduler events to time")
	fs.DurationVar(&cfg.MaxDecisionP99, "max-decision-p99", cfg.MaxDecisionP99, "bound on the scheduler's p99 per event")
	if err := fs.Parse(args); err != nil {
		return err
	}
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
