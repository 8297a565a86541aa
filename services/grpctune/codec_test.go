package grpctune_test

import (
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/grpctune"
)

func batchSeeds(t testing.TB) [][]byte {
	t.Helper()
	yes := true
	level := uint32(7)
	full := &alpcrunpb.Batch{
		Id: "b1", SessionId: "s1", Priority: 3, UseSharedData: &yes, RequiredSharedDataUpdateLevel: &level,
		Messages: []*alpcrunpb.Message{
			{Id: "1", Payload: []byte("abc")},
			{Id: "2", Error: "boom", Attempts: 2},
			{},
		},
	}
	var seeds [][]byte
	for _, m := range []*alpcrunpb.Batch{{}, {Id: "x"}, full} {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	enc := seeds[2]
	// Fields out of order, a scalar repeated (last one wins), an unknown
	// field, and a messages field with the wrong wire type.
	odd := protowire.AppendTag(nil, 4, protowire.BytesType)
	odd = protowire.AppendBytes(odd, []byte{0x0a, 0x01, 'z'})
	odd = protowire.AppendTag(odd, 1, protowire.BytesType)
	odd = protowire.AppendString(odd, "late")
	odd = protowire.AppendTag(odd, 3, protowire.VarintType)
	odd = protowire.AppendVarint(odd, 9)
	odd = protowire.AppendTag(odd, 99, protowire.VarintType)
	odd = protowire.AppendVarint(odd, 1)
	odd = protowire.AppendTag(odd, 4, protowire.VarintType)
	odd = protowire.AppendVarint(odd, 5)
	seeds = append(seeds, append(append([]byte{}, enc...), odd...))
	// Invalid UTF-8 in a message id, and a truncated batch.
	bad := protowire.AppendTag(nil, 4, protowire.BytesType)
	bad = protowire.AppendBytes(bad, []byte{0x0a, 0x01, 0xff})
	seeds = append(seeds, bad, enc[:len(enc)-2])
	return seeds
}

// FuzzUnmarshalBatch checks that UnmarshalBatch decodes exactly what
// proto.Unmarshal decodes, and fails exactly when it fails.
func FuzzUnmarshalBatch(f *testing.F) {
	for _, s := range batchSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := new(alpcrunpb.Batch)
		wantErr := proto.Unmarshal(data, want)
		got := &alpcrunpb.Batch{Id: "stale", Messages: []*alpcrunpb.Message{{Id: "stale"}}}
		gotErr := grpctune.UnmarshalBatch(data, got)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("UnmarshalBatch error %v, proto.Unmarshal error %v", gotErr, wantErr)
		}
		if wantErr == nil && !proto.Equal(got, want) {
			t.Fatalf("UnmarshalBatch = %v, want %v", got, want)
		}
	})
}

func TestUnmarshalBatchDoesNotAlias(t *testing.T) {
	data, err := proto.Marshal(&alpcrunpb.Batch{Messages: []*alpcrunpb.Message{{Id: "a", Payload: []byte("xyz")}}})
	if err != nil {
		t.Fatal(err)
	}
	b := new(alpcrunpb.Batch)
	if err := grpctune.UnmarshalBatch(data, b); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 0
	}
	if m := b.Messages[0]; m.Id != "a" || string(m.Payload) != "xyz" {
		t.Fatalf("decoded message changed with its input: %v", m)
	}
}

// BenchmarkUnmarshalBatch decodes a batch of 100 tasks with 64-byte
// payloads with protobuf-go and with UnmarshalBatch:
//
//	go test -run '^$' -bench BenchmarkUnmarshalBatch -count 10 ./services/grpctune
func BenchmarkUnmarshalBatch(b *testing.B) {
	m := &alpcrunpb.Batch{Id: "123", SessionId: "s"}
	for i := range 100 {
		m.Messages = append(m.Messages, &alpcrunpb.Message{Id: strconv.Itoa(100000 + i), Payload: make([]byte, 64)})
	}
	data, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name string
		f    func([]byte, *alpcrunpb.Batch) error
	}{
		{"proto", func(d []byte, x *alpcrunpb.Batch) error { return proto.Unmarshal(d, x) }},
		{"codec", grpctune.UnmarshalBatch},
	} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				var x alpcrunpb.Batch
				if err := impl.f(data, &x); err != nil {
					b.Fatal(err)
				}
				n += len(x.Messages)
			}
			b.StopTimer()
			if n != 100*b.N {
				b.Fatalf("decoded %d messages, want %d", n, 100*b.N)
			}
		})
	}
}
