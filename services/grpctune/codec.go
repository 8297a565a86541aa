package grpctune

import (
	"errors"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// Codec is gRPC's proto codec with a faster decoder for alpcrunpb.Batch,
// the message that carries every task and result. It is wire-compatible
// with the standard codec (same bytes, same name "proto"), so peers
// without it interoperate, and Marshal is the standard one.
//
// protobuf-go spends ~190 ns and 3 allocations on each Message of a batch
// (the struct, its id, its payload) and regrows the Messages slice as it
// goes. UnmarshalBatch decodes Messages by hand into four allocations per
// batch: the Message structs, the pointer slice, and one byte arena that
// holds every payload and string; the other Batch fields go through
// protobuf-go. The result equals proto.Unmarshal's, errors included
// (FuzzUnmarshalBatch checks it against protobuf-go). What a caller can
// see: the Messages of a batch share their memory, which is freed when
// none of them is referenced, and each Payload has its own capacity, so
// appending to one never writes into another.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// std is gRPC's own proto codec, which Codec uses for everything else.
var std = encoding.GetCodecV2(protocodec.Name)

// Name is "proto": the content-subtype stays application/grpc+proto.
func (Codec) Name() string { return protocodec.Name }

// Marshal is the standard codec's.
func (Codec) Marshal(v any) (mem.BufferSlice, error) { return std.Marshal(v) }

// Unmarshal decodes data into v, a Batch through UnmarshalBatch and any
// other message through the standard codec.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*alpcrunpb.Batch)
	if !ok {
		return std.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return UnmarshalBatch(buf.ReadOnlyData(), b)
}

// Field numbers of Batch.messages and of Message's fields.
const (
	batchMessages   = 4
	messageID       = 1
	messagePayload  = 2
	messageError    = 3
	messageAttempts = 4
)

// errInvalid is returned for input that protobuf-go rejects too; callers
// only see it wrapped by gRPC as an Internal error, like protobuf-go's.
var errInvalid = errors.New("grpctune: invalid Batch encoding")

// UnmarshalBatch is proto.Unmarshal(data, b), faster (see Codec). It does
// not keep data.
func UnmarshalBatch(data []byte, b *alpcrunpb.Batch) error {
	n, size, ok := countMessages(data)
	if !ok || n == 0 {
		// Malformed input gets protobuf-go's own error, and a batch
		// without messages gains nothing.
		return proto.Unmarshal(data, b)
	}
	proto.Reset(b)
	slab := make([]alpcrunpb.Message, n)
	b.Messages = make([]*alpcrunpb.Message, n)
	// Never grown past its capacity, so earlier slices of it stay valid.
	arena := make([]byte, 0, size)
	merge := proto.UnmarshalOptions{Merge: true}
	i, run := 0, -1 // run: start of the current stretch of other fields
	for off := 0; off < len(data); {
		num, typ, tl := protowire.ConsumeTag(data[off:])
		vl := protowire.ConsumeFieldValue(num, typ, data[off+tl:])
		if num != batchMessages || typ != protowire.BytesType {
			// A messages field with another wire type is an unknown
			// field to protobuf-go, so it stays in the run too.
			if run < 0 {
				run = off
			}
			off += tl + vl
			continue
		}
		if run >= 0 {
			if err := merge.Unmarshal(data[run:off], b); err != nil {
				return err
			}
			run = -1
		}
		v, _ := protowire.ConsumeBytes(data[off+tl:])
		if err := decodeMessage(v, &slab[i], &arena); err != nil {
			return err
		}
		b.Messages[i] = &slab[i]
		i++
		off += tl + vl
	}
	if run >= 0 {
		return merge.Unmarshal(data[run:], b)
	}
	return nil
}

// decodeMessage decodes one Message from v into the zero m, copying its
// bytes into arena, as protobuf-go would: the last of repeated fields
// wins, strings must be valid UTF-8, and fields that are unknown or have
// an unexpected wire type are kept as unknown fields.
func decodeMessage(v []byte, m *alpcrunpb.Message, arena *[]byte) error {
	var unknown []byte
	for len(v) > 0 {
		num, typ, tl := consumeTag(v)
		if tl < 0 {
			return errInvalid
		}
		var vl int
		switch {
		case typ == protowire.BytesType && (num == messageID || num == messagePayload || num == messageError):
			var s []byte
			s, vl = protowire.ConsumeBytes(v[tl:])
			if vl < 0 {
				return errInvalid
			}
			if num == messagePayload {
				m.Payload = copyBytes(arena, s)
				break
			}
			if !utf8.Valid(s) {
				return errInvalid
			}
			if num == messageID {
				m.Id = copyString(arena, s)
			} else {
				m.Error = copyString(arena, s)
			}
		case typ == protowire.VarintType && num == messageAttempts:
			var x uint64
			x, vl = protowire.ConsumeVarint(v[tl:])
			if vl < 0 {
				return errInvalid
			}
			m.Attempts = uint32(x)
		default:
			vl = protowire.ConsumeFieldValue(num, typ, v[tl:])
			if vl < 0 {
				return errInvalid
			}
			// protobuf-go re-encodes the tag minimally; so must we.
			unknown = protowire.AppendTag(unknown, num, typ)
			unknown = append(unknown, v[tl:tl+vl]...)
		}
		v = v[tl+vl:]
	}
	if unknown != nil {
		m.ProtoReflect().SetUnknown(unknown)
	}
	return nil
}

// copyBytes appends s to arena and returns the copy, with its capacity
// cut to its length.
func copyBytes(arena *[]byte, s []byte) []byte {
	a := len(*arena)
	*arena = append(*arena, s...)
	return (*arena)[a:len(*arena):len(*arena)]
}

// copyString appends s to arena and returns the copy as a string. The
// arena's bytes are never written again, and no slice handed out covers
// them, so the string is immutable as Go requires.
func copyString(arena *[]byte, s []byte) string {
	if len(s) == 0 {
		return ""
	}
	a := len(*arena)
	*arena = append(*arena, s...)
	return unsafe.String(&(*arena)[a], len(s))
}

// countMessages counts the messages fields of an encoded Batch and the
// bytes they hold; ok is false when data does not parse as fields.
func countMessages(data []byte) (n, size int, ok bool) {
	for len(data) > 0 {
		num, typ, tl := consumeTag(data)
		if tl < 0 {
			return 0, 0, false
		}
		vl := protowire.ConsumeFieldValue(num, typ, data[tl:])
		if vl < 0 {
			return 0, 0, false
		}
		if num == batchMessages && typ == protowire.BytesType {
			n++
			size += vl
		}
		data = data[tl+vl:]
	}
	return n, size, true
}

// consumeTag is protowire.ConsumeTag that also rejects field numbers above
// the largest valid one, as protobuf-go's decoder does.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}
