package queuemanager

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// FuzzBatchCheck feeds arbitrary wire bytes to the batch validation: it
// must never panic, its size must be proto.Size's, and a batch it accepts
// must have messages with non-empty, unique ids within the size limit.
//
//	go test -run '^$' -fuzz FuzzBatchCheck -fuzztime 30s ./services/queuemanager
func FuzzBatchCheck(f *testing.F) {
	for _, b := range []*pb.Batch{
		batchOf("s", "a", "b"),
		batchOf("s", "a", "a"),
		batchOf("s", ""),
		batchOf("s"),
		{SessionId: "s", Messages: []*pb.Message{nil, {Id: "x"}}},
		{SessionId: "s", Messages: []*pb.Message{{Id: "x", Payload: make([]byte, 300)}}},
	} {
		raw, err := proto.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b pb.Batch
		if proto.Unmarshal(raw, &b) != nil {
			return
		}
		if got, want := batchSize(&b), proto.Size(&b); got != want {
			t.Fatalf("batchSize %d, proto.Size %d", got, want)
		}
		chk := batchChecker{maxBytes: 256}
		if _, err := chk.check(&b); err != nil {
			return
		}
		if len(b.Messages) == 0 || proto.Size(&b) > 256 {
			t.Fatalf("accepted %d messages, %d bytes", len(b.Messages), proto.Size(&b))
		}
		seen := map[string]bool{}
		for _, m := range b.Messages {
			if m.GetId() == "" || seen[m.GetId()] {
				t.Fatalf("accepted empty or duplicate id %q", m.GetId())
			}
			seen[m.GetId()] = true
		}
	})
}

// TestBatchSize holds batchSize to proto.Size with every field of Batch
// and Message set (found by reflection, so a new field fails this until
// batchSize counts it), at small and multi-byte varint sizes, with unknown
// fields and a nil message.
func TestBatchSize(t *testing.T) {
	fill := func(m protoreflect.Message, big bool) {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if fd.IsList() {
				continue
			}
			var v protoreflect.Value
			switch fd.Kind() {
			case protoreflect.StringKind:
				v = protoreflect.ValueOfString(strings.Repeat("s", map[bool]int{false: 3, true: 300}[big]))
			case protoreflect.BytesKind:
				v = protoreflect.ValueOfBytes(make([]byte, map[bool]int{false: 5, true: 70000}[big]))
			case protoreflect.Uint32Kind:
				v = protoreflect.ValueOfUint32(map[bool]uint32{false: 7, true: 1 << 31}[big])
			case protoreflect.BoolKind:
				v = protoreflect.ValueOfBool(true)
			case protoreflect.EnumKind:
				v = protoreflect.ValueOfEnum(fd.Enum().Values().Get(fd.Enum().Values().Len() - 1).Number())
			default:
				t.Fatalf("field %s of kind %v: teach batchSize and this test", fd.FullName(), fd.Kind())
			}
			m.Set(fd, v)
		}
	}
	for _, big := range []bool{false, true} {
		b := &pb.Batch{}
		fill(b.ProtoReflect(), big)
		for range 3 {
			m := &pb.Message{}
			fill(m.ProtoReflect(), big)
			b.Messages = append(b.Messages, m)
		}
		b.Messages = append(b.Messages, nil, &pb.Message{})
		b.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 5))
		b.Messages[0].ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 77, protowire.BytesType), "xx"))
		if got, want := batchSize(b), proto.Size(b); got != want {
			t.Errorf("big %v: batchSize %d, proto.Size %d", big, got, want)
		}
	}
}

// BenchmarkBatchSize compares batchSize with proto.Size on a batch of 100
// tasks of 64 B, the gate's loaded shape.
func BenchmarkBatchSize(b *testing.B) {
	batch := &pb.Batch{SessionId: "s"}
	for i := range 100 {
		batch.Messages = append(batch.Messages, &pb.Message{Id: "task-" + strconv.Itoa(i), Payload: make([]byte, 64)})
	}
	for _, c := range []struct {
		name string
		size func(*pb.Batch) int
	}{{"batchSize", batchSize}, {"proto.Size", func(b *pb.Batch) int { return proto.Size(b) }}} {
		b.Run("impl="+c.name, func(b *testing.B) {
			for b.Loop() {
				c.size(batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Messages)), "ns/task")
		})
	}
}
