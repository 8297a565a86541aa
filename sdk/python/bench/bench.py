"""The Python SDK's cost, measured: tasks/s and round-trip latency of the
Python client next to the Go client (cmd/loadgen) and a raw grpcio stream
(the generated stubs, no SDK), all against the same queue manager and Go
echo workers in one run.

Every client runs the same closed loop: batches of `batch` tasks, at most
`inflight` tasks unanswered, 64-byte payloads; latency is from submitting
a batch to the result of its first task. Points: batch 1 and 100 at
inflight 1000 (throughput), and inflight = batch (one batch in flight: the
idle round trip). Output: Go benchmark format on stdout (benchstat and
cmd/benchplot read it), one line per client and point; --table writes the
medians as Markdown.

    bench.py [--count N] [--scale F] [--table FILE]
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

import alpcrun  # noqa: E402
from alpcrun.v1 import alpcrun_pb2 as pb  # noqa: E402
from alpcrun.v1 import alpcrun_pb2_grpc as pb_grpc  # noqa: E402
from services import Cluster, build  # noqa: E402

PAYLOAD = b"x" * 64
# (batch, inflight, tasks at scale 1)
POINTS = [(1, 1000, 20_000), (100, 1000, 200_000), (1, 1, 2_000), (100, 100, 50_000)]


def quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _session_run(addr: str, batch: int, inflight: int, n: int, feed) -> tuple[float, list[float]]:
    """Runs feed(session, sent) in a thread, which submits n tasks and puts
    the time one task per batch went out in sent[id], and times the
    results."""
    sent: dict[str, float] = {}
    lat: list[float] = []
    with alpcrun.Client(addr) as c, c.session("pybench", max_batch_size=batch, max_inflight=inflight) as s:
        t0 = time.perf_counter()
        threading.Thread(target=lambda: (feed(s, sent), s.close_send()), daemon=True).start()
        got = 0
        for r in s.results():
            got += 1
            if (t := sent.get(r.id)) is not None:
                lat.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - t0
    assert got == n, f"{got} results of {n}"
    return elapsed, lat


def run_sdk(addr: str, batch: int, inflight: int, n: int) -> tuple[float, list[float]]:
    """The Python SDK: submit_batch with a max_inflight window."""
    def feed(s, sent):
        for k in range(n // batch):
            s.submit_batch({f"{k}.{j}": PAYLOAD for j in range(batch)})
            sent[f"{k}.0"] = time.perf_counter()  # after the wait for the window, as the others

    return _session_run(addr, batch, inflight, n, feed)


def run_sdk_submit(addr: str, batch: int, inflight: int, n: int) -> tuple[float, list[float]]:
    """The Python SDK's usual path: submit() one task at a time, batches
    formed by the SDK up to max_batch_size."""
    def feed(s, sent):
        for i in range(n):
            id = s.submit(PAYLOAD)
            if i % batch == 0:
                sent[id] = time.perf_counter()

    return _session_run(addr, batch, inflight, n, feed)


def run_raw(addr: str, batch: int, inflight: int, n: int) -> tuple[float, list[float]]:
    """The transport's own limit: the generated stubs, the same batches and
    window, nothing else (no pending map, no dedupe, no reconnect)."""
    import grpc

    ch = grpc.insecure_channel(addr)
    stub = pb_grpc.QueueStub(ch)
    sess = stub.CreateSession(pb.Session(app=pb.App(id="pybench-raw")))
    window = threading.Semaphore(max(1, inflight // batch))
    sent: dict[int, float] = {}
    lat: list[float] = []
    nb = n // batch

    def requests():
        for k in range(nb):
            window.acquire()
            b = pb.Batch(session_id=sess.id)
            for j in range(batch):
                b.messages.add(id=f"{k}.{j}", payload=PAYLOAD)
            sent[k] = time.perf_counter()
            yield b

    t0 = time.perf_counter()
    call = stub.ClientStream(requests(), metadata=(("sessionid", sess.id),))
    got = 0
    for b in call:
        for m in b.messages:
            got += 1
            k, j = m.id.split(".")
            if j == "0":
                lat.append(time.perf_counter() - sent[int(k)])
            if j == str(batch - 1):
                window.release()
        if got == nb * batch:
            break
    elapsed = time.perf_counter() - t0
    call.cancel()
    stub.CloseSession(pb.Session(id=sess.id))
    ch.close()
    return elapsed, lat


def run_go(loadgen: Path, addr: str, batch: int, inflight: int, n: int) -> tuple[float, float, float]:
    """cmd/loadgen, the Go client SDK: tasks/s, p50 and p99 latency in s."""
    out = subprocess.run([str(loadgen), "--queue-manager", addr, "--batch", str(batch), "--inflight", str(inflight),
                          "--tasks", str(n), "--warmup-tasks", str(min(n // 10, 10_000)), "--payload", "64",
                          "--format", "bench", "--progress", "1h"],
                         capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("Benchmark"))
    f = line.split()
    val = {f[i + 1]: float(f[i]) for i in range(2, len(f) - 1, 2)}
    return val["tasks/s"], val["p50-ns"] / 1e9, val["p99-ns"] / 1e9


CLIENTS = {"raw": run_raw, "sdk": run_sdk, "sdk-submit": run_sdk_submit}


def table(rows: list[tuple[str, int, int, float, float, float]]) -> str:
    """Medians per client and point, and each client over raw at that point."""
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    by: dict[tuple[str, int, int], list] = {}
    for client, b, w, tps, p50, p99 in rows:
        by.setdefault((client, b, w), []).append((tps, p50, p99))
    out = ["| batch | inflight | client | tasks/s | of raw | p50 ms | p99 ms |", "|---:|---:|---|---:|---:|---:|---:|"]
    for b, w, _ in POINTS:
        raw = med([v[0] for v in by[("raw", b, w)]])
        for client in ("raw", "sdk", "sdk-submit", "go"):
            vs = by[(client, b, w)]
            tps = med([v[0] for v in vs])
            out.append(f"| {b} | {w} | {client} | {tps:,.0f} | {tps / raw:.0%} | "
                       f"{med([v[1] for v in vs]) * 1e3:.2f} | {med([v[2] for v in vs]) * 1e3:.2f} |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=5, help="passes over every client and point")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the tasks of every point")
    ap.add_argument("--workers", type=int, default=2, help="Go echo workers, 4 task slots each")
    ap.add_argument("--table", type=Path, help="also write a Markdown table of the medians here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "log").mkdir()
        bins = build(tmp / "bin")
        cluster = Cluster(bins, tmp / "log")
        try:
            for _ in range(args.workers):
                cluster.go_worker("echo", concurrency=4)
            addr = cluster.qm_addr
            # Warm-up: workers bound, connections and code paths hot.
            run_sdk(addr, 100, 1000, 20_000)
            print(f"pkg: github.com/alpcrun/alpcrun/sdk/python\nworkers: {args.workers}\npayload: 64B")
            for pass_, (batch, inflight, n) in itertools.product(range(args.count), POINTS):
                n = max(batch, int(n * args.scale)) // batch * batch
                print(f"pass {pass_ + 1}/{args.count} batch={batch} inflight={inflight} ({n} tasks)",
                      file=sys.stderr, flush=True)
                # The clients take turns at every point, so that a noisy
                # neighbour slows them alike.
                for client, fn in CLIENTS.items():
                    el, lat = fn(addr, batch, inflight, n)
                    rows.append((client, batch, inflight, n / el, quantile(lat, 0.5), quantile(lat, 0.99)))
                rows.append(("go", batch, inflight, *run_go(bins["loadgen"], addr, batch, inflight, n)))
                for r in rows[-len(CLIENTS) - 1:]:
                    print(f"BenchmarkClient/client={r[0]}/batch={r[1]}/inflight={r[2]} 1 {r[3]:.0f} tasks/s "
                          f"{r[4] * 1e9:.0f} p50-ns {r[5] * 1e9:.0f} p99-ns", flush=True)
        finally:
            cluster.close()
    if args.table:
        args.table.write_text(table(rows))


if __name__ == "__main__":
    main()
