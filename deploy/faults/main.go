// Command faults is the client workload of make faults
// (deploy/scripts/faults.sh): against the compose project of
// deploy/compose.yaml + deploy/compose.faults.yaml it runs one session of
// tasks per fault case, injects the fault a quarter of the way in, checks
// that every task's result arrives exactly once with no dead letters, and
// prints the recovery time. The cases (see cases.go):
//
//	a   a worker killed with SIGKILL mid-batch
//	b   a worker frozen (docker pause) past workerTimeout
//	c1  worker-3's link to the queue manager stalled past workerTimeout, then healed
//	c2  worker-3's link to the queue manager cut (connections reset, refused), then restored
//	d   a node cache killed; the tasks after it need new shared data
//	e   the central cache restarted; it lost the shared data, which the client writes again
//	f   the queue manager restarted; its state is lost
//
// It ends with a table (case, tasks, results, duplicates, lost, recovery)
// and exits non-zero if any case failed.
//
//	faults -project alpcrun-faults -ca-cert certs/ca.pem [-cases a,b]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alpcrun/alpcrun/deploy/ledger"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

type config struct {
	project, caCert string
	cases           []string
	workers         int
	tasks, batch    int
	at              float64
	workerTimeout   time.Duration
	caseTimeout     time.Duration
}

// env is what every case runs against.
type env struct {
	cfg    config
	cl     *cluster
	client *client.Client
	sd     *client.SharedData
	key    string // the running case, for log lines
}

func (e *env) logf(format string, args ...any) {
	fmt.Printf("faults: [%s] %s\n", e.key, fmt.Sprintf(format, args...))
}

func main() {
	var c config
	var caseList string
	flag.StringVar(&c.project, "project", "alpcrun-faults", "compose `project` under test")
	flag.StringVar(&c.caCert, "ca-cert", "", "PEM CA `file` that verifies the servers (required)")
	flag.StringVar(&caseList, "cases", "a,b,c1,c2,d,e,f", "comma-separated `cases` to run, in this order")
	flag.IntVar(&c.workers, "workers", 5, "workers the cluster runs; each case starts once all are registered")
	flag.IntVar(&c.tasks, "tasks", 2000, "tasks per case")
	flag.IntVar(&c.batch, "batch", 10, "tasks per batch")
	flag.Float64Var(&c.at, "at", 0.25, "inject the fault once this fraction of the (first) tasks have results")
	flag.DurationVar(&c.workerTimeout, "worker-timeout", 3*time.Second, "the queue manager's workerTimeout (sizes the freezes)")
	flag.DurationVar(&c.caseTimeout, "case-timeout", 90*time.Second, "deadline of each case")
	flag.Parse()
	if c.caCert == "" {
		fmt.Fprintln(os.Stderr, "faults: -ca-cert is required")
		os.Exit(2)
	}
	c.cases = strings.Split(caseList, ",")
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("faults: PASS")
}

func run(ctx context.Context, c config) error {
	all := cases(c.workerTimeout)
	var todo []faultCase
	for _, k := range c.cases {
		i := slices.IndexFunc(all, func(fc faultCase) bool { return fc.key == k })
		if i < 0 {
			return fmt.Errorf("faults: unknown case %q", k)
		}
		todo = append(todo, all[i])
	}

	setup, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cl, err := newCluster(setup, c.project)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.waitWorkers(setup, c.workers, time.Minute); err != nil {
		return err
	}
	fmt.Printf("faults: %d workers registered; client through %s (queue manager), %s (central cache)\n",
		c.workers, cl.qmGRPC.Addr(), cl.ccGRPC.Addr())
	tls := client.WithTLSFiles(c.caCert, "", "")
	cli, err := client.Dial(setup, cl.qmGRPC.Addr(), tls)
	if err != nil {
		return err
	}
	defer cli.Close()
	sd, err := client.DialSharedData(setup, cl.ccGRPC.Addr(), tls)
	if err != nil {
		return err
	}
	defer sd.Close()

	// The client keeps the shared data it owns in the central cache, as
	// the SDK recommends, so that workers find it after a restart.
	keep, stopKeep := context.WithCancel(ctx)
	defer stopKeep()
	go sd.Keep(keep, 500*time.Millisecond)

	e := &env{cfg: c, cl: cl, client: cli, sd: sd}
	var outs []outcome
	for _, fc := range todo {
		e.key = fc.key
		o := runCase(ctx, e, fc)
		if o.err != nil {
			e.logf("FAIL: %v", o.err)
		} else {
			e.logf("ok")
		}
		outs = append(outs, o)
	}
	printTable(outs)
	var errs []error
	for _, o := range outs {
		if o.err != nil {
			errs = append(errs, fmt.Errorf("case %s (%s): %w", o.key, o.name, o.err))
		}
	}
	return errors.Join(errs...)
}

// outcome is one row of the table.
type outcome struct {
	key, name                  string
	tasks, results, dups, lost int
	dead, redelivered          int
	recovery, done             time.Duration // from the fault; -1: none
	err                        error
}

// rec is one result as received.
type rec struct {
	at       time.Time
	attempts uint32
	late     bool // a task submitted after the fault
}

func runCase(ctx context.Context, e *env, fc faultCase) (o outcome) {
	c := e.cfg
	o = outcome{key: fc.key, name: fc.name, tasks: c.tasks, recovery: -1, done: -1}
	ctx, cancel := context.WithTimeout(ctx, c.caseTimeout)
	defer cancel()
	fmt.Printf("faults: [%s] %s: %d tasks\n", fc.key, fc.name, c.tasks)

	var errs []error
	fail := func(err error) outcome {
		o.err = errors.Join(append(errs, err)...)
		return o
	}
	if err := e.cl.waitWorkers(ctx, c.workers, time.Minute); err != nil {
		return fail(err)
	}
	level := uint32(1)
	s, err := e.client.CreateSession(ctx, client.SessionOptions{
		AppID:            "faults-" + fc.key,
		MaxBatchSize:     c.batch,
		SharedDataLevel:  &level,
		ReconnectTimeout: 30 * time.Second,
	})
	if err != nil {
		return fail(err)
	}
	// At the deadline, closing the session ends its stream, and with it the
	// loop over Results below.
	closeSession := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.Close(cctx)
	}
	defer closeSession()
	stop := context.AfterFunc(ctx, closeSession)
	defer stop()
	restored := e.sd.Restored()
	if err := publish(ctx, e, s.ID(), 1); err != nil {
		return fail(err)
	}

	ids := make([]string, c.tasks)
	payloads := make([]string, c.tasks)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%05d", fc.key, i)
		payloads[i] = "payload of " + ids[i]
	}
	l := ledger.New("faults", ids, payloads)
	first := c.tasks
	if fc.newLevel {
		first = c.tasks / 2
	}
	submitErr := make(chan error, 2)
	submit := func(ids, payloads []string, last bool) {
		if last {
			defer s.CloseSend()
		}
		for i, id := range ids {
			if err := s.Submit(ctx, id, []byte(payloads[i])); err != nil {
				submitErr <- err
				return
			}
		}
		submitErr <- nil
	}
	start := time.Now()
	go submit(ids[:first], payloads[:first], !fc.newLevel)
	submits := 1

	at := max(1, int(c.at*float64(first)))
	var began, ended time.Time
	var injected chan error // set once the fault is on its way
	second := false
	var recs []rec
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	results := s.Results()
	for results != nil {
		select {
		case r, ok := <-results:
			if !ok {
				results = nil
				continue
			}
			now := time.Now()
			l.Add(r.ID, r.Payload, r.Attempts, now, true)
			recs = append(recs, rec{at: now, attempts: r.Attempts, late: fc.newLevel && r.ID >= ids[first]})
			if l.Received == at && injected == nil {
				e.logf("fault after %d results, %v in", at, now.Sub(start).Round(time.Millisecond))
				began = time.Now()
				injected = make(chan error, 1)
				go func() { injected <- fc.inject(ctx, e) }()
			}
		case err := <-injected:
			ended = time.Now()
			injected = nil
			if err != nil {
				errs = append(errs, fmt.Errorf("injecting the fault: %w", err))
				closeSession()
				continue
			}
			e.logf("fault over %v after it began", ended.Sub(began).Round(time.Millisecond))
		case <-tick.C:
			e.logf("%d/%d results, %d redelivered, %v", l.Received, c.tasks, l.Redelivered, time.Since(start).Round(time.Second))
		}
		if fc.newLevel && !second && !ended.IsZero() && len(errs) == 0 && l.Received >= first {
			// The first half is answered, so no batch needs level 1 any
			// more: the central cache keeps one level per session.
			second = true
			if err := publish(ctx, e, s.ID(), 2); err != nil {
				errs = append(errs, err)
				closeSession()
				continue
			}
			level = 2
			s.SetSharedDataLevel(&level)
			e.logf("shared data level 2 published; submitting the other %d tasks", c.tasks-first)
			go submit(ids[first:], payloads[first:], true)
			submits++
		}
	}
	end := time.Now()
	if injected != nil {
		// The tasks were done before the fault was over: it is still taken
		// out before the next case.
		if err := <-injected; err != nil {
			errs = append(errs, fmt.Errorf("injecting the fault: %w", err))
		}
		ended = time.Now()
		e.logf("fault over %v after it began", ended.Sub(began).Round(time.Millisecond))
	}

	o.results, o.dups, o.lost, o.redelivered = l.Received, l.Duplicates(), l.Lost(), l.Redelivered
	if !began.IsZero() {
		if len(recs) > 0 {
			o.done = recs[len(recs)-1].at.Sub(began)
		}
		for _, r := range recs {
			if r.at.Before(began) {
				continue
			}
			if fc.recovery == byRedelivery && r.attempts > 1 || fc.recovery == byNewTask && r.late ||
				fc.recovery == byAnyAfter && !ended.IsZero() && r.at.After(ended) {
				o.recovery = r.at.Sub(began)
				break
			}
		}
	}
	fmt.Printf("faults: [%s] %d results in %v\n", fc.key, l.Received, end.Sub(start).Round(time.Millisecond))

	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("case deadline (%v) reached with %d of %d results", c.caseTimeout, l.Received, c.tasks))
	}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	err = s.Wait(wctx)
	wcancel()
	if err != nil {
		errs = append(errs, fmt.Errorf("session ended: %w", err))
	}
	for range submits {
		if err := <-submitErr; err != nil {
			errs = append(errs, fmt.Errorf("submit: %w", err))
			break
		}
	}
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	dead, err := s.DeadLetters(dctx)
	dcancel()
	o.dead = len(dead)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("dead letters: %w", err))
	case len(dead) > 0:
		errs = append(errs, fmt.Errorf("%d dead letters, first %q: %s", len(dead), dead[0].ID, dead[0].Error))
	}
	if began.IsZero() {
		errs = append(errs, fmt.Errorf("only %d results arrived: the fault was never injected", l.Received))
	}
	if err := l.Check(); err != nil {
		errs = append(errs, err)
	}
	if fc.redelivers && l.Redelivered == 0 && !began.IsZero() {
		errs = append(errs, errors.New("no task was redelivered: the fault hit no task in flight"))
	}
	if n := e.sd.Restored() - restored; n > 0 {
		e.logf("the central cache had lost the shared data: the client wrote it again %d times", n)
	} else if fc.mustReset && !began.IsZero() {
		errs = append(errs, errors.New("the client never wrote the shared data again: the central cache kept it across its restart"))
	}

	// Back to full strength for the next case, whatever happened here.
	hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 90*time.Second)
	defer hcancel()
	if fc.heal != nil {
		if err := fc.heal(hctx, e); err != nil {
			errs = append(errs, fmt.Errorf("healing: %w", err))
		}
	}
	if err := e.cl.waitWorkers(hctx, c.workers, time.Minute); err != nil {
		errs = append(errs, fmt.Errorf("after the case: %w", err))
	}
	o.err = errors.Join(errs...)
	return o
}

// publish puts level of the session's shared data into the central cache
// (Set for level 1, UpdateTo after), retrying while the cache is
// unreachable. The client owns that data: when the central cache has lost
// it (NOT_FOUND, after a restart) the SDK writes it again, which
// SharedData.Restored counts.
func publish(ctx context.Context, e *env, session string, level uint32) error {
	payload := make([]byte, 4096)
	payload[0] = byte(level)
	const ttl = 10 * time.Minute
	for {
		var err error
		if level == 1 {
			err = e.sd.Set(ctx, session, level, payload, ttl)
		} else {
			err = e.sd.UpdateTo(ctx, session, level, payload, ttl)
		}
		if !errors.Is(err, client.ErrUnavailable) {
			if err != nil {
				return fmt.Errorf("shared data level %d: %w", level, err)
			}
			return nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("shared data level %d: central cache unavailable: %w", level, err)
		}
	}
}

func printTable(outs []outcome) {
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "case\tfault\ttasks\tresults\tduplicates\tlost\tdead\tredelivered\trecovery\tdone\tresult")
	dur := func(d time.Duration) string {
		if d < 0 {
			return "-"
		}
		return d.Round(10 * time.Millisecond).String()
	}
	for _, o := range outs {
		verdict := "PASS"
		if o.err != nil {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", o.key, o.name, o.tasks, o.results, o.dups, o.lost, o.dead, o.redelivered, dur(o.recovery), dur(o.done), verdict)
	}
	w.Flush()
	fmt.Println("recovery: from the fault to the first result that needed it (a, b, c: a redelivered one;")
	fmt.Println("d, e: one of the tasks submitted after the fault; f: any after the restart); done: to the last result.")
}
