// Package grpctune holds the gRPC transport settings that every ALPCRUN.CH
// process uses: the queue manager and cache servers, the client and worker
// SDKs, and the bench relay that is their limit (docs/design.md, The lab). A
// relay on gRPC's defaults is not that limit: it is measured here at 0.71×
// the tuned relay's throughput and 1.71× its idle round trip.
//
//	srv := grpc.NewServer(append(grpctune.ServerOptions(), creds...)...)
//	conn, err := grpc.NewClient(addr, append(grpctune.DialOptions(), creds...)...)
//
// # Measurements
//
// The bench relay (bench.Relay: client → relay → Echo workers → relay →
// client over loopback TCP, every process with the same settings) on the 2
// cores of a shared Intel Xeon, Go 1.26.8, grpc-go v1.85.0, protobuf-go
// v1.36.12, n=8 interleaved runs, medians, p ≤ 0.05 or "~" (no significant
// difference). BenchmarkSettings reproduces them; its doc comment has the
// commands. Shapes: T = workers=4 batch=100 payload=64 inflight=32
// (throughput), L = workers=1 batch=1 payload=64 inflight=1 (idle round
// trip), P = workers=4 batch=100 payload=4096 inflight=32 (400 KB batches).
//
//	                    T tasks/s   T cpu-ns/op  L p50     P tasks/s
//	gRPC defaults       1.01M       1766         39.2µs    82.3k
//	Tuned               1.42M       1237         22.9µs    98.7k
//
// That is, before → after: T +40% tasks/s, −30% CPU per task, 12 → 0
// allocations per task (rounded; fewer than 0.5); L −42% p50, 81 → 53
// allocations per task.
//
// Each setting, measured as Tuned with that one setting changed:
//
//	setting                  gRPC default      chosen            effect of going back to the default
//	static windows           BDP estimator     on                L p50 +72%, allocs 53 → 77, L cpu +14%; T ~; P tasks/s −7%
//	stream window            64 KiB, growing   1 MiB             64 KiB: T tasks/s −10%, P −26%; 4 MiB: T ~, P −10% and P p50 2×
//	connection window        64 KiB, growing   16 MiB            no memory cost (credited on arrival); not separately measured
//	read buffer              32 KiB            64 KiB            32 KiB: T ~, P tasks/s −9%; 256 KiB: T ~, P −8%
//	write buffer             32 KiB            256 KiB           32 KiB: T cpu +4%, T p50 +8%; none: T −22% tasks/s, L p50 +89%
//	shared write buffer      on                on (default)      deprecated option; on releases the buffer between flushes
//	buffer pool              mem.DefaultBufferPool  default      mem.NopBufferPool (no reuse): T cpu +18%, P cpu +36%
//	Batch codec (Codec)      protobuf-go       Codec             T cpu +32%, T tasks/s −23%, P cpu +14%; L ~
//	NumStreamWorkers         0 (goroutine per stream)  0         2: T ~, P cpu +5%: streams here live long, workers only start them
//	max message size         4 MiB received    80 MiB            not a speed setting: a 1000×4 KiB batch exceeds 4 MiB
//	keepalive                off               30s ping, 10s timeout  not a speed setting: finds dead peers on idle streams
//	max connection idle      never             15m               not a speed setting: servers close connections without streams
//
// Reading the table: the BDP estimator's pings are the main cost of the
// defaults on small messages (a ping and its ack per round trip), and
// protobuf-go's per-message allocations the main cost of 100-task batches;
// after both, a task at T costs ~1.2 µs of CPU for four decodes, four
// encodes and eight loopback socket hops. grpc.RecvBufferPool no longer
// exists in v1.85.0: receive buffers are always pooled, and
// experimental.BufferPool only swaps the pool.
//
// # Not set here
//
// The garbage collector is a process setting, not a gRPC option: GOGC=400
// cut the tuned relay's CPU per task at T by 23% (n=6, L ~). The queue
// manager's main may set it (debug.SetGCPercent), at the cost of a larger
// heap; the benchmarks run with Go's default so that every system is
// measured alike.
package grpctune
