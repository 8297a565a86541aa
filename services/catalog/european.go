package catalog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/alpcrun/alpcrun/services/internal/config"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// Wire formats of the european task:
//
//	shared data  JSON Market: {"spot":100,"strike":100,"rate":0.05,"vol":0.2,"maturity":1}
//	             (rate and vol per year, continuously compounded; maturity in years)
//	task         24 bytes, little-endian uint64s: seed, task index, paths (even)
//	result       16 bytes, little-endian float64s: Σy and Σy² over the task's
//	             paths/2 antithetic pairs, y = e^(−rT)·(payoff(Z) + payoff(−Z))/2
//
// Task i draws its normals from a ChaCha8 stream keyed by (seed, i), so a
// redelivered task returns exactly the same sums.

// Market is the market data of a European call option, the shared data of
// a session of european tasks.
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
	m.Check(&p)
	return p.Err()
}

// Check records every bad field in p.
func (m Market) Check(p *config.Problems) {
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

// Decode is the shared-data decoder (worker.WithDecoder) of workers that run
// the catalog: it keeps the payload and decodes it as a Market on the first
// european task that asks, so that kinds without shared data, or with
// another format, never fail on it.
func Decode(payload []byte) (any, error) { return &shared{raw: payload}, nil }

// shared is a session's shared data at one level, as Decode keeps it.
type shared struct {
	raw  []byte
	once sync.Once
	m    Market
	err  error
}

func (s *shared) market() (Market, error) {
	s.once.Do(func() { s.m, s.err = decodeMarket(s.raw) })
	return s.m, s.err
}

func decodeMarket(payload []byte) (Market, error) {
	var m Market
	if err := json.Unmarshal(payload, &m); err != nil {
		return m, fmt.Errorf("catalog: market data: %w", err)
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("catalog: market data: %w", err)
	}
	return m, nil
}

// MaxTaskPaths bounds one task (some seconds of work) so that a bad payload
// cannot hold a task slot for hours.
const MaxTaskPaths = 1 << 30

// Sizes of the task and result payloads.
const (
	taskSize   = 24
	resultSize = 16
)

// PricingTask is one european task: Paths paths from the stream keyed by
// (Seed, Index).
type PricingTask struct {
	Seed, Index, Paths uint64
}

// Encode returns the task's input.
func (t PricingTask) Encode() []byte {
	b := make([]byte, taskSize)
	binary.LittleEndian.PutUint64(b[0:], t.Seed)
	binary.LittleEndian.PutUint64(b[8:], t.Index)
	binary.LittleEndian.PutUint64(b[16:], t.Paths)
	return b
}

func decodeTask(b []byte) (PricingTask, error) {
	if len(b) != taskSize {
		return PricingTask{}, fmt.Errorf("catalog: european task payload is %d bytes, want %d", len(b), taskSize)
	}
	t := PricingTask{
		Seed:  binary.LittleEndian.Uint64(b[0:]),
		Index: binary.LittleEndian.Uint64(b[8:]),
		Paths: binary.LittleEndian.Uint64(b[16:]),
	}
	if t.Paths < 2 || t.Paths%2 != 0 || t.Paths > MaxTaskPaths {
		return PricingTask{}, fmt.Errorf("catalog: european task of %d paths, want an even number in 2..%d", t.Paths, MaxTaskPaths)
	}
	return t, nil
}

func encodeResult(sum, sumSq float64) []byte {
	b := make([]byte, resultSize)
	binary.LittleEndian.PutUint64(b[0:], math.Float64bits(sum))
	binary.LittleEndian.PutUint64(b[8:], math.Float64bits(sumSq))
	return b
}

// DecodeResult returns the sums of a european task's result.
func DecodeResult(b []byte) (sum, sumSq float64, err error) {
	if len(b) != resultSize {
		return 0, 0, fmt.Errorf("catalog: european result payload is %d bytes, want %d", len(b), resultSize)
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b[0:])), math.Float64frombits(binary.LittleEndian.Uint64(b[8:])), nil
}

var errNoMarket = errors.New("catalog: the european task needs the market data as the session's shared data")

func priceTask(ctx context.Context, t worker.Task) ([]byte, error) {
	var m Market
	switch sd := t.SharedData.(type) {
	case Market:
		m = sd
	case *shared:
		var err error
		if m, err = sd.market(); err != nil {
			return nil, err
		}
	default:
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
func simulate(ctx context.Context, m Market, t PricingTask) (sum, sumSq float64, err error) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], t.Seed)
	binary.LittleEndian.PutUint64(key[8:], t.Index)
	rng := rand.New(rand.NewChaCha8(key))
	fwd := m.Spot * math.Exp((m.Rate-m.Vol*m.Vol/2)*m.Maturity)
	sd := m.Vol * math.Sqrt(m.Maturity)
	half := math.Exp(-m.Rate*m.Maturity) / 2
	for i := range t.Paths / 2 {
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
