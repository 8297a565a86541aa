package allinone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/alpcrun/alpcrun/services/catalog"
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/internal/config"
	"github.com/alpcrun/alpcrun/services/nodecache"
	"github.com/alpcrun/alpcrun/services/queuemanager"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// Addrs are the gRPC addresses of the in-process services, ready to dial.
type Addrs struct {
	QueueManager, CentralCache, NodeCache string
	// Dashboard is the queue manager's HTTP address (its dashboard at /,
	// metrics at /metrics); empty without one or on a port chosen at run
	// time.
	Dashboard string
}

// Task is what the in-process workers run.
type Task struct {
	Handler worker.Handler
	// Decode turns a session's shared data into worker.Task.SharedData,
	// once per worker and level; nil hands over the payload's bytes.
	Decode func([]byte) (any, error)
}

// errNoHandler is returned by Run when workers are asked for without a task.
var errNoHandler = errors.New("allinone: workers need a task handler")

// proc is one goroutine of the cluster: a service or a worker.
type proc struct {
	name string
	done chan struct{}
	err  error // read after done is closed
}

// spawn runs fn as a proc, which is sent on ended when it returns; ended
// must have room for every proc.
func spawn(name string, ended chan<- *proc, fn func() error) *proc {
	p := &proc{name: name, done: make(chan struct{})}
	go func() {
		p.err = fn()
		close(p.done)
		ended <- p
	}()
	return p
}

// Run starts the central cache, the node cache, the queue manager and
// cfg.Workers workers running task, sends the services' addresses on ready
// (when non-nil; it must be buffered or read), and serves until ctx is done
// or a service or worker fails. Then the workers drain, so that they finish
// the batches they hold, and the services stop. It returns nil after a
// clean stop, else every failure.
func Run(ctx context.Context, cfg Config, task Task, ready chan<- Addrs) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Workers > 0 && task.Handler == nil {
		return errNoHandler
	}
	for _, c := range []*config.Common{&cfg.QueueManager.Common, &cfg.CentralCache.Common, &cfg.NodeCache.Common} {
		if cfg.LogLevel != "" {
			c.LogLevel = cfg.LogLevel
		}
		if cfg.LogFormat != "" {
			c.LogFormat = cfg.LogFormat
		}
	}
	log := config.NewLogger(cfg.QueueManager.Common)

	// The services and workers outlive ctx until the shutdown below has
	// stopped them in order.
	ended := make(chan *proc, 3+cfg.Workers)
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	wkCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var services, workers []*proc
	shutdown := func() error {
		stopWorkers()
		var errs []error
		for _, p := range workers {
			<-p.done
			errs = append(errs, p.err)
		}
		stopServices()
		for _, p := range services {
			<-p.done
			errs = append(errs, p.err)
		}
		return errors.Join(errs...)
	}
	start := func(name string, run func(context.Context, chan<- string) error) (string, error) {
		r := make(chan string, 1)
		p := spawn(name, ended, func() error {
			if err := run(svcCtx, r); err != nil {
				return fmt.Errorf("allinone: %s: %w", name, err)
			}
			return nil
		})
		select {
		case addr := <-r:
			services = append(services, p)
			return dialable(addr), nil
		case <-p.done:
			if p.err == nil {
				return "", fmt.Errorf("allinone: %s stopped before serving", name)
			}
			return "", p.err
		}
	}

	var a Addrs
	var err error
	if a.CentralCache, err = start("central cache", func(ctx context.Context, r chan<- string) error {
		return centralcache.Run(ctx, cfg.CentralCache, r)
	}); err != nil {
		return errors.Join(err, shutdown())
	}
	cfg.NodeCache.CentralCacheAddr = a.CentralCache
	if a.NodeCache, err = start("node cache", func(ctx context.Context, r chan<- string) error {
		return nodecache.Run(ctx, cfg.NodeCache, r)
	}); err != nil {
		return errors.Join(err, shutdown())
	}
	if a.QueueManager, err = start("queue manager", func(ctx context.Context, r chan<- string) error {
		return queuemanager.Run(ctx, cfg.QueueManager, r)
	}); err != nil {
		return errors.Join(err, shutdown())
	}

	if h := cfg.QueueManager.HTTPListen; h != "" && !strings.HasSuffix(h, ":0") {
		a.Dashboard = dialable(h)
	}

	var ncOpts []worker.NodeCacheOption
	if task.Decode != nil {
		ncOpts = append(ncOpts, worker.WithDecoder(task.Decode))
	}
	for i := range cfg.Workers {
		name := fmt.Sprintf("alpcrun-worker-%d", i)
		nc, err := worker.NewNodeCache(a.NodeCache, ncOpts...)
		if err != nil {
			return errors.Join(err, shutdown())
		}
		workers = append(workers, spawn(name, ended, func() error {
			defer nc.Close()
			err := worker.Run(wkCtx, a.QueueManager, task.Handler, worker.WithConcurrency(cfg.Concurrency),
				worker.WithPod(name), worker.WithSharedData(nc), worker.WithLogger(log))
			if err != nil {
				return fmt.Errorf("allinone: %s: %w", name, err)
			}
			return nil
		}))
	}
	log.Info("all-in-one cluster serving", "queueManager", a.QueueManager, "centralCache", a.CentralCache,
		"nodeCache", a.NodeCache, "workers", cfg.Workers, "concurrency", cfg.Concurrency)
	if ready != nil {
		ready <- a
	}

	select {
	case <-ctx.Done():
		return shutdown()
	case p := <-ended:
		err := shutdown() // holds p.err
		if p.err == nil {
			err = errors.Join(fmt.Errorf("allinone: %s stopped unexpectedly", p.name), err)
		}
		return err
	}
}

// dialable turns a listener's address into one a client on this host can
// dial: an unspecified host (":1337", "[::]:1337") becomes loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || ip != nil && ip.IsUnspecified() && ip.To4() == nil:
		return net.JoinHostPort("localhost", port)
	case ip != nil && ip.IsUnspecified():
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// Up runs the cluster of `alpcrun up` (see Run): its workers run the task
// catalog, cfg.Task being the kind of payloads that name none.
func Up(ctx context.Context, cfg UpConfig, ready chan<- Addrs) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	h, err := catalog.Handler(cfg.Task)
	if err != nil {
		return err
	}
	return Run(ctx, cfg.Config, Task{Handler: h, Decode: catalog.Decode}, ready)
}
