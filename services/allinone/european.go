package allinone

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/alpcrun/alpcrun/services/internal/config"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// Market is the market data of a European call option, the demo session's
// shared data (JSON, see the package doc).
type Market struct {
	Spot     float64 `yaml:"spot" json:"spot" usage:"spot price of the underlying"`
	Strike   float64 `yaml:"strike" json:"strike" usage:"strike price of the call"`
	Rate     float64 `yaml:"rate" json:"rate" usage:"risk-free rate per year, continuously compounded (0.05 is 5%)"`
	Vol      float64 `yaml:"vol" json:"vol" usage:"volatility per year (0.2 is 20%)"`
	Maturity float64 `yaml:"maturity" json:"maturity" usage:"time to maturity in years"`
}

// Validate reports every bad field.
func (m Market) Validate() error {
	var p config.Problems
	m.check(&p)
	return p.Err()
}

func (m Market) check(p *config.Problems) {
	for _, f := range []struct {
		key string
		v   float64
	}{{"spot", m.Spot}, {"strike", m.Strike}, {"vol", m.Vol}, {"maturity", m.Maturity}} {
		if !(f.v > 0) || math.IsInf(f.v, 0) {
			p.Add(f.key, "must be positive and finite, got %v", f.v)
		}
	}
	if math.IsNaN(m.Rate) || math.IsInf(m.Rate, 0) {
		p.Add("rate", "must be finite, got %v", m.Rate)
	}
}

// BlackScholes is the analytic price of the European call on m.
func BlackScholes(m Market) float64 {
	sd := m.Vol * math.Sqrt(m.Maturity)
	d1 := (math.Log(m.Spot/m.Strike) + (m.Rate+m.Vol*m.Vol/2)*m.Maturity) / sd
	d2 := d1 - sd
	return m.Spot*normCDF(d1) - m.Strike*math.Exp(-m.Rate*m.Maturity)*normCDF(d2)
}

func normCDF(x float64) float64 { return math.Erfc(-x/math.Sqrt2) / 2 }

// EuropeanTask prices European calls by Monte Carlo: the session's shared
// data is a Market, each task a slice of the paths (formats in the package
// doc).
func EuropeanTask() Task {
	return Task{Handler: priceTask, Decode: decodeMarket}
}

func decodeMarket(payload []byte) (any, error) {
	var m Market
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("allinone: market data: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("allinone: market data: %w", err)
	}
	return m, nil
}

// maxTaskPaths bounds one task (some seconds of work) so that a bad payload
// cannot hold a task slot for hours.
const maxTaskPaths = 1 << 30

// Sizes of the task and result payloads.
const (
	taskSize   = 24
	resultSize = 16
)

// pricingTask is one task: paths paths from the stream keyed by (seed,
// index).
type pricingTask struct {
	seed, index, paths uint64
}

func (t pricingTask) encode() []byte {
	b := make([]byte, taskSize)
	binary.LittleEndian.PutUint64(b[0:], t.seed)
	binary.LittleEndian.PutUint64(b[8:], t.index)
	binary.LittleEndian.PutUint64(b[16:], t.paths)
	return b
}

func decodeTask(b []byte) (pricingTask, error) {
	if len(b) != taskSize {
		return pricingTask{}, fmt.Errorf("allinone: task payload is %d bytes, want %d", len(b), taskSize)
	}
	t := pricingTask{
		seed:  binary.LittleEndian.Uint64(b[0:]),
		index: binary.LittleEndian.Uint64(b[8:]),
		paths: binary.LittleEndian.Uint64(b[16:]),
	}
	if t.paths < 2 || t.paths%2 != 0 || t.paths > maxTaskPaths {
		return pricingTask{}, fmt.Errorf("allinone: task of %d paths, want an even number in 2..%d", t.paths, maxTaskPaths)
	}
	return t, nil
}

func encodeResult(sum, sumSq float64) []byte {
	b := make([]byte, resultSize)
	binary.LittleEndian.PutUint64(b[0:], math.Float64bits(sum))
	binary.LittleEndian.PutUint64(b[8:], math.Float64bits(sumSq))
	return b
}

func decodeResult(b []byte) (sum, sumSq float64, err error) {
	if len(b) != resultSize {
		return 0, 0, fmt.Errorf("allinone: result payload is %d bytes, want %d", len(b), resultSize)
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b[0:])), math.Float64frombits(binary.LittleEndian.Uint64(b[8:])), nil
}

var errNoMarket = errors.New("allinone: the european task needs the market data as the session's shared data")

func priceTask(ctx context.Context, t worker.Task) ([]byte, error) {
	m, ok := t.SharedData.(Market)
	if !ok {
		return nil, errNoMarket
	}
	pt, err := decodeTask(t.Payload)
	if err != nil {
		return nil, err
	}
	sum, sumSq, err := simulate(ctx, m, pt)
	if err != nil {
		return nil, err
	}
	return encodeResult(sum, sumSq), nil
}

// simulate draws the task's antithetic pairs of terminal prices under
// geometric Brownian motion and sums their discounted mean payoffs y, and
// y². ChaCha8 keyed by (seed, index) gives every task its own stream,
// independent of the others and the same on every delivery.
func simulate(ctx context.Context, m Market, t pricingTask) (sum, sumSq float64, err error) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], t.seed)
	binary.LittleEndian.PutUint64(key[8:], t.index)
	rng := rand.New(rand.NewChaCha8(key))
	fwd := m.Spot * math.Exp((m.Rate-m.Vol*m.Vol/2)*m.Maturity)
	sd := m.Vol * math.Sqrt(m.Maturity)
	half := math.Exp(-m.Rate*m.Maturity) / 2
	for i := range t.paths / 2 {
		// A large task checks now and then whether its stream broke.
		if i%(1<<16) == 0 && i > 0 && ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		g := math.Exp(sd * rng.NormFloat64())
		y := half * (max(fwd*g-m.Strike, 0) + max(fwd/g-m.Strike, 0))
		sum += y
		sumSq += y * y
	}
	return sum, sumSq, nil
}
