package grpctune_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"

	"github.com/alpcrun/alpcrun/bench"
	"github.com/alpcrun/alpcrun/services/grpctune"
)

func transport(s grpctune.Settings) bench.Transport {
	return bench.Transport{Server: s.ServerOptions(), Dial: s.DialOptions()}
}

// tunedWith is Tuned changed by f.
func tunedWith(f func(*grpctune.Settings)) bench.Transport {
	s := grpctune.Tuned()
	f(&s)
	return transport(s)
}

// BenchmarkSettings runs the bench relay with Tuned, with gRPC's defaults,
// and with Tuned less one setting at a time; doc.go's table comes from it:
//
//	go test -c -o /tmp/grpctune.test ./services/grpctune
//	for i in $(seq 10); do /tmp/grpctune.test -test.run '^$' -test.bench BenchmarkSettings -test.count 1; done > settings.txt
//	go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /set settings.txt
//
// The loop interleaves the settings in time, so that other load on the
// machine spreads over all of them; cpu-ns/op is the steadiest metric.
func BenchmarkSettings(b *testing.B) {
	tuned := transport(grpctune.Tuned())
	sets := []struct {
		name string
		tr   bench.Transport
	}{
		{"tuned", tuned},
		{"defaults", transport(grpctune.Settings{})},
		{"stdcodec", tunedWith(func(s *grpctune.Settings) { s.Codec = false })},
		{"bdp", tunedWith(func(s *grpctune.Settings) { s.StreamWindow, s.ConnWindow = 0, 0 })},
		{"win64k", tunedWith(func(s *grpctune.Settings) { s.StreamWindow, s.ConnWindow = 64<<10, 64<<10 })},
		{"win4m", tunedWith(func(s *grpctune.Settings) { s.StreamWindow = 4 << 20 })},
		{"rbuf32k", tunedWith(func(s *grpctune.Settings) { s.ReadBuffer = 0 })},
		{"rbuf256k", tunedWith(func(s *grpctune.Settings) { s.ReadBuffer = 256 << 10 })},
		{"wbuf32k", tunedWith(func(s *grpctune.Settings) { s.WriteBuffer = 0 })},
		{"wbufnone", tunedWith(func(s *grpctune.Settings) { s.WriteBuffer = -1 })},
		{"nopool", bench.Transport{
			Server: append([]grpc.ServerOption{experimental.BufferPool(mem.NopBufferPool{})}, tuned.Server...),
			Dial:   append([]grpc.DialOption{experimental.WithBufferPool(mem.NopBufferPool{})}, tuned.Dial...),
		}},
		{"streamworkers", bench.Transport{
			Server: append([]grpc.ServerOption{grpc.NumStreamWorkers(2)}, tuned.Server...),
			Dial:   tuned.Dial,
		}},
	}
	shapes := []bench.Shape{
		{Workers: 4, Batch: 100, Payload: 64, Inflight: 32},
		{Workers: 4, Batch: 100, Payload: 4096, Inflight: 32},
		{Workers: 1, Batch: 1, Payload: 64, Inflight: 1},
	}
	for _, s := range shapes {
		for _, set := range sets {
			b.Run("set="+set.name+"/"+s.Name(), func(b *testing.B) { bench.Bench(b, bench.StartRelay(set.tr), s) })
		}
	}
}
