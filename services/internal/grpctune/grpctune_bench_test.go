package grpctune_test

import (
	"testing"

	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/bench"
	"github.com/alpcrun/alpcrun/services/internal/grpctune"
)

func transport(s grpctune.Settings) bench.Transport {
	return bench.Transport{Server: s.ServerOptions(), Dial: s.DialOptions()}
}

func with(f func(*grpctune.Settings)) bench.Transport {
	s := grpctune.Tuned()
	f(&s)
	return transport(s)
}

func BenchmarkExplore(b *testing.B) {
	tuned := transport(grpctune.Tuned())
	extra := func(so []grpc.ServerOption, do []grpc.DialOption) bench.Transport {
		return bench.Transport{Server: append(append([]grpc.ServerOption{}, tuned.Server...), so...), Dial: append(append([]grpc.DialOption{}, tuned.Dial...), do...)}
	}
	_ = extra
	sets := []struct {
		name string
		t    bench.Transport
	}{
		{"tuned", tuned},
		{"rbuf64k", with(func(s *grpctune.Settings) { s.ReadBuffer = 64 << 10 })},
		{"rbuf128k", with(func(s *grpctune.Settings) { s.ReadBuffer = 128 << 10 })},
		{"win256k", with(func(s *grpctune.Settings) { s.StreamWindow, s.ConnWindow = 256 << 10, 1 << 20 })},
		{"win1m", with(func(s *grpctune.Settings) { s.StreamWindow, s.ConnWindow = 1 << 20, 4 << 20 })},
	}
	shapes := []bench.Shape{
		{Workers: 4, Batch: 100, Payload: 64, Inflight: 32},
		{Workers: 4, Batch: 100, Payload: 4096, Inflight: 32},
		{Workers: 4, Batch: 1000, Payload: 4096, Inflight: 8},
		{Workers: 1, Batch: 1, Payload: 64, Inflight: 1},
	}
	for _, s := range shapes {
		for _, set := range sets {
			b.Run("set="+set.name+"/"+s.Name(), func(b *testing.B) { bench.Bench(b, bench.StartRelay(set.t), s) })
		}
	}
}
