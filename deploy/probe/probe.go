// Package probe reads what the cluster programs (deploy/clustertest,
// deploy/faults) need from a running queue manager's HTTP side.
package probe

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Workers sums alpcrun_workers{state} from the /metrics of the queue
// manager whose HTTP side is at addr.
func Workers(ctx context.Context, addr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("probe: GET /metrics: %s", resp.Status)
	}
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "alpcrun_workers{") && !strings.HasPrefix(line, "alpcrun_workers ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("probe: metrics line %q: %v", line, err)
		}
		total += v
	}
	return int(total), sc.Err()
}
