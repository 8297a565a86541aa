package queuemanager

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// FuzzBatchCheck feeds arbitrary wire bytes to the batch validation: it
// must never panic, and a batch it accepts must have messages with
// non-empty, unique ids within the size limit.
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
