package catalog

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// MaxSamples bounds one pi task (about a second of work) so that a typo in
// a payload cannot occupy a slot for hours.
const MaxSamples = 1 << 30

// pi counts the hits of the task's samples; the random stream is seeded
// from the session and task ids, so a redelivered task gives the same
// answer.
func pi(_ context.Context, t worker.Task) ([]byte, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(string(t.Payload)), 10, 64)
	if err != nil || n == 0 || n > MaxSamples {
		return nil, fmt.Errorf("catalog: pi: payload %q is not a sample count in 1..%d", t.Payload, MaxSamples)
	}
	h := fnv.New64a()
	h.Write([]byte(t.SessionID))
	h.Write([]byte{0})
	h.Write([]byte(t.ID))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0x9e3779b97f4a7c15))
	var hits uint64
	for range n {
		x, y := rng.Float64(), rng.Float64()
		if x*x+y*y <= 1 {
			hits++
		}
	}
	return strconv.AppendUint(nil, hits, 10), nil
}
