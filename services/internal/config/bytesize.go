package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes that configuration sources may write with a
// unit: "1GiB", "64MiB", "512KB", or plain bytes ("1048576"). KB, MB, GB
// and TB are powers of 1000; KiB, MiB, GiB and TiB powers of 1024.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	size   int64
}{ // longest suffixes first, so "MiB" is not read as "B"
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// UnmarshalText parses a size with an optional unit.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.size
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return fmt.Errorf("invalid size %q (want e.g. 64MiB, 1GB or a number of bytes)", text)
	}
	total := n * float64(mult)
	if total >= math.MaxInt64 {
		return fmt.Errorf("size %q is too large", text)
	}
	*b = ByteSize(total)
	return nil
}

// String writes the size in the largest binary unit that divides it.
func (b ByteSize) String() string {
	for i := 3; i >= 0; i-- {
		if u := byteUnits[i]; b != 0 && int64(b)%u.size == 0 {
			return strconv.FormatInt(int64(b)/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}
