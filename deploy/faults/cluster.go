package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"github.com/alpcrun/alpcrun/deploy/probe"
	"github.com/alpcrun/alpcrun/internal/faultproxy"
)

// cluster is the compose project under test, driven with the docker CLI.
// The client reaches the queue manager and the central cache through
// faultproxies on the host, so that its addresses survive a restart, which
// publishes those services on new host ports: follow points a proxy at the
// new port.
type cluster struct {
	project        string
	qmGRPC, ccGRPC *faultproxy.Proxy
}

func newCluster(ctx context.Context, project string) (*cluster, error) {
	c := &cluster{project: project}
	qm, err := c.hostAddr(ctx, "queue-manager", 1337)
	if err != nil {
		return nil, err
	}
	cc, err := c.hostAddr(ctx, "central-cache", 2337)
	if err != nil {
		return nil, err
	}
	if c.qmGRPC, err = faultproxy.New("127.0.0.1:0", qm); err != nil {
		return nil, err
	}
	if c.ccGRPC, err = faultproxy.New("127.0.0.1:0", cc); err != nil {
		c.qmGRPC.Close()
		return nil, err
	}
	return c, nil
}

func (c *cluster) Close() {
	_ = c.qmGRPC.Close()
	_ = c.ccGRPC.Close()
}

// docker runs the docker CLI and returns its trimmed output.
func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("faults: docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// id is the container of a compose service, running or not.
func (c *cluster) id(ctx context.Context, service string) (string, error) {
	out, err := docker(ctx, "ps", "-aq",
		"--filter", "label=com.docker.compose.project="+c.project,
		"--filter", "label=com.docker.compose.service="+service)
	if err != nil {
		return "", err
	}
	if out == "" || strings.Contains(out, "\n") {
		return "", fmt.Errorf("faults: service %s of project %s: containers %q, want one", service, c.project, out)
	}
	return out, nil
}

// do runs a docker command (kill, pause, start, ...) on a service's container.
func (c *cluster) do(ctx context.Context, cmd, service string, args ...string) error {
	id, err := c.id(ctx, service)
	if err != nil {
		return err
	}
	_, err = docker(ctx, append(append([]string{cmd}, args...), id)...)
	return err
}

// hostAddr is where the host reaches a service's published port now.
func (c *cluster) hostAddr(ctx context.Context, service string, port int) (string, error) {
	id, err := c.id(ctx, service)
	if err != nil {
		return "", err
	}
	out, err := docker(ctx, "port", id, fmt.Sprintf("%d/tcp", port))
	if err != nil {
		return "", err
	}
	return strings.Fields(out)[0], nil
}

// follow points the host-side proxy of a restarted service at its new port.
func (c *cluster) follow(ctx context.Context, service string) error {
	p, port := c.qmGRPC, 1337
	if service == "central-cache" {
		p, port = c.ccGRPC, 2337
	}
	addr, err := c.hostAddr(ctx, service, port)
	if err != nil {
		return err
	}
	p.SetUpstream(addr)
	return nil
}

// wire sends a control (stall, cut, restore, ...) to qm-proxy, the
// faultproxy between worker-3 and the queue manager.
func (c *cluster) wire(ctx context.Context, control string) error {
	addr, err := c.hostAddr(ctx, "qm-proxy", 8080)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/"+control, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("faults: qm-proxy %s: %w", control, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("faults: qm-proxy %s: %s", control, resp.Status)
	}
	return nil
}

// waitWorkers polls the queue manager's metrics until want workers are
// registered.
func (c *cluster) waitWorkers(ctx context.Context, want int, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := c.workers(ctx)
		if err == nil && n >= want {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("faults: %d of %d workers registered after %v (last error: %v)", n, want, within, err)
		}
	}
}

// workers sums alpcrun_workers{state} from the queue manager's /metrics.
func (c *cluster) workers(ctx context.Context) (int, error) {
	addr, err := c.hostAddr(ctx, "queue-manager", 1338)
	if err != nil {
		return 0, err
	}
	return probe.Workers(ctx, addr)
}
