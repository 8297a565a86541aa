"""The worker side of ALPCRUN.CH: run a Python function on tasks.

    def price(task):              # task.payload, task.shared_data, ...
        return encode(model(task.payload))

    alpcrun.worker.run(price, concurrency=8)

Lifecycle, as the Go worker SDK: the worker opens the control channel
(WorkerUpdate, metadata "node" and "pod"), learns its id from response
header "workerid", reports IDLE, then heartbeats. On BIND it opens a
WorkerStream for the session and reports BOUND; every task batch is
answered with one result batch carrying the same batch id and one message
per task. On UNBIND it finishes the batches it holds, half-closes and
reports IDLE once the stream ended. A broken stream loses nothing: the
queue manager requeues what was unanswered. A broken control channel is
reopened with backoff, under a new worker id. The worker does not take
part in work stealing (it never sets metadata "revoke").

Failures: an exception in the handler becomes the task's error, and the
queue manager dead-letters the task.

Shared data: a batch that needs the session's shared data gets it at the
batch's level through the node cache (NodeCache), as task.shared_data.

CPU-bound handlers (numpy code that holds the GIL): processes=True runs
them in a pool of `concurrency` processes. The handler (and decoder) must
then be picklable, i.e. defined at module level, and the main script must
guard its entry point with `if __name__ == "__main__":`.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import queue
import random
import signal
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import grpc

from . import _conn
from .codec import Codec, Raw
from .errors import from_rpc
from .nodecache import DEFAULT_SHARED_DATA_WAIT, NodeCache
from .v1 import alpcrun_pb2 as pb
from .v1 import alpcrun_pb2_grpc as pb_grpc

# A third of the queue manager's default workerTimeout (60 s), so that two
# heartbeats may be lost before the worker is dropped.
DEFAULT_HEARTBEAT = 20.0
# Reconnect backoff bounds of the control channel, in seconds.
MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0
ENV_NODE = "METALCORE_WORKER_NODE"
ENV_POD = "METALCORE_WORKER_POD"

_FATAL = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED)


@dataclass(slots=True)
class Task:
    id: str
    # Decoded by the worker's codec (bytes by default).
    payload: Any
    session_id: str
    batch_id: str
    # Deliveries so far, this one included.
    attempts: int
    # The session's shared data at the batch's level, decoded; None when the
    # batch uses none.
    shared_data: Any = None


Handler = Callable[[Task], Any]


def _error_text(e: BaseException) -> str:
    # An empty error would read as success.
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _run_chunk(handler: Handler, codec: Codec, shared: Any, session_id: str, batch_id: str,
               msgs: list[tuple[str, bytes, int]]) -> list[tuple[bytes, str]]:
    """Runs handler on each task; returns (result, error) per task."""
    out = []
    for id, data, attempts in msgs:
        try:
            res = codec.encode(handler(Task(id, codec.decode(data), session_id, batch_id, attempts, shared)))
            out.append((res, ""))
        except Exception as e:
            out.append((b"", _error_text(e)))
    return out


# The process pool's per-process state, set by _child_init.
_child: dict[str, Any] = {}


def _child_init(handler, codec, node_cache_addr, api_key, decoder, wait):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent drains on Ctrl-C
    _child.update(handler=handler, codec=codec, node=None,
                  node_args=dict(address=node_cache_addr, api_key=api_key, decoder=decoder, wait=wait))


def _child_run(session_id, batch_id, level, msgs):
    shared = None
    if level is not None:
        if _child["node"] is None:
            _child["node"] = NodeCache(**_child["node_args"])
        try:
            shared = _child["node"].get(session_id, level)
        except Exception as e:
            return [(b"", f"shared data level {level}: {_error_text(e)}")] * len(msgs)
    return _run_chunk(_child["handler"], _child["codec"], shared, session_id, batch_id, msgs)


class Worker:
    """A configured worker; run() serves until stop() (or a signal, with
    the module-level run), then drains and returns.

    address: queue manager, default $METALCORE_QUEUE_MANAGER_ADDR, else
    localhost:1337. node_cache: address, default $METALCORE_NODE_CACHE_ADDR,
    else localhost:3337. codec: decodes payloads and encodes results
    (bytes as they are by default). shared_decoder: turns the shared-data
    payload into task.shared_data, once per (session, level)."""

    def __init__(self, handler: Handler, *, concurrency: int | None = None, processes: bool = False,
                 address: str | None = None, node_cache: str | None = None, codec: Codec | None = None,
                 shared_decoder: Callable[[bytes], Any] | None = None, api_key: str | None = None,
                 heartbeat: float = DEFAULT_HEARTBEAT, shared_data_wait: float = DEFAULT_SHARED_DATA_WAIT,
                 node: str | None = None, pod: str | None = None,
                 credentials: grpc.ChannelCredentials | None = None):
        host = socket.gethostname()
        self.handler = handler
        self.concurrency = concurrency or os.cpu_count() or 1
        self.processes = processes
        self.address = _conn.resolve_address(address, _conn.ENV_QUEUE_MANAGER_ADDR, _conn.DEFAULT_QUEUE_MANAGER_ADDR)
        self.node_cache_address = _conn.resolve_address(node_cache, _conn.ENV_NODE_CACHE_ADDR, _conn.DEFAULT_NODE_CACHE_ADDR)
        self.codec = codec or Raw()
        self.shared_decoder = shared_decoder
        self.api_key = api_key
        self._md = _conn.api_key_metadata(api_key)
        self.heartbeat = heartbeat
        self.shared_data_wait = shared_data_wait
        self.node = node or os.environ.get(ENV_NODE) or host
        self.pod = pod or os.environ.get(ENV_POD) or f"{host}-{os.getpid()}"
        self._credentials = credentials
        self._stop = threading.Event()
        self._events: queue.Queue = queue.Queue()
        self._nodecache: NodeCache | None = None
        self._nodecache_lock = threading.Lock()
        self.worker_id = ""  # of the current registration

    def stop(self) -> None:
        """Asks run() to drain: report DRAINING, take no new batch, answer
        the ones held, then return."""
        self._stop.set()
        self._events.put(("stop", None, None))

    def run(self) -> None:
        """Serves until stop(); raises only for problems retrying will not
        fix (a rejected API key, a server without the Queue service)."""
        if self.processes:
            ctx = multiprocessing.get_context("forkserver")  # forking a process with gRPC threads is unsafe
            pool = cf.ProcessPoolExecutor(self.concurrency, mp_context=ctx, initializer=_child_init,
                                          initargs=(self.handler, self.codec, self.node_cache_address, self.api_key,
                                                    self.shared_decoder, self.shared_data_wait))
        else:
            pool = cf.ThreadPoolExecutor(self.concurrency, thread_name_prefix="alpcrun-task")
        self._pool = pool
        channel = _conn.channel(self.address, self._credentials)
        stub = pb_grpc.QueueStub(channel)
        try:
            backoff = MIN_BACKOFF
            while not self._stop.is_set():
                registered, err = self._control(stub)
                if self._stop.is_set():
                    return
                if isinstance(err, grpc.RpcError) and err.code() in _FATAL:
                    raise from_rpc(err) from None
                if registered:
                    backoff = MIN_BACKOFF
                if self._stop.wait(backoff / 2 + random.uniform(0, backoff / 2)):
                    return
                backoff = min(2 * backoff, MAX_BACKOFF)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            channel.close()
            if self._nodecache is not None:
                self._nodecache.close()

    # -- control channel ---------------------------------------------------

    def _control(self, stub) -> tuple[bool, Exception | None]:
        """One registration: the WorkerUpdate stream and the bindings it
        orders. Returns after the drain (None) or when the stream broke."""
        reg = object()  # tags this registration's events
        out: queue.Queue = queue.Queue()
        state = pb.WorkerState(state=pb.WorkerState.IDLE)

        def requests() -> Iterator[pb.WorkerState]:
            while True:
                try:
                    item = out.get(timeout=self.heartbeat)
                except queue.Empty:
                    item = state  # the heartbeat
                if item is None:
                    return
                yield item

        md = self._md + (("node", self.node), ("pod", self.pod))
        call = stub.WorkerUpdate(requests(), metadata=md)
        hdr = dict(call.initial_metadata() or ())
        wid = hdr.get("workerid", "")
        if not wid:
            # A call refused before it started (a bad API key) has no
            # header; its status comes with the end of the stream.
            try:
                next(call)
            except grpc.RpcError as e:
                return False, e
            except StopIteration:
                pass
            call.cancel()
            return False, RuntimeError("no workerid in the response header")
        self.worker_id = state.worker_id = wid

        recv_done = threading.Event()

        def receive():
            try:
                for ins in call:
                    self._events.put(("instr", reg, ins))
                self._events.put(("recv_end", reg, None))
            except grpc.RpcError as e:
                self._events.put(("recv_end", reg, e))
            finally:
                recv_done.set()

        threading.Thread(target=receive, name="alpcrun-control-recv", daemon=True).start()

        def report(s: int, session_id: str) -> None:
            state.state, state.session_id = s, session_id
            out.put(pb.WorkerState(worker_id=wid, state=s, session_id=session_id))

        report(pb.WorkerState.IDLE, "")
        cur: _Binding | None = None  # the binding of the last BIND
        ending: set[_Binding] = set()  # bindings finishing after UNBIND, a newer BIND or the drain
        draining = self._stop.is_set()
        if draining:
            report(pb.WorkerState.DRAINING, "")

        def stop(drain: bool):
            nonlocal cur
            if cur is not None:
                cur.stop(drain)
                ending.add(cur)
                cur = None

        err: Exception | None = None
        try:
            while True:
                if draining and cur is None and not ending:
                    # Half-close and let the queue manager end the stream, so
                    # it sees a clean goodbye rather than a reset.
                    out.put(None)
                    recv_done.wait(self.heartbeat)
                    return True, None
                kind, tag, val = self._events.get()
                if kind == "stop":
                    if not draining:
                        draining = True
                        stop(True)
                        report(pb.WorkerState.DRAINING, state.session_id)
                elif tag is not reg:
                    continue  # from an earlier registration
                elif kind == "recv_end":
                    err = val or RuntimeError("control stream ended")
                    return True, err
                elif kind == "instr":
                    if val.type == pb.Instruction.BIND and not draining:
                        stop(False)
                        cur = _Binding(self, stub, reg, wid, val.session_id)
                        report(pb.WorkerState.BOUND, val.session_id)
                    elif val.type == pb.Instruction.UNBIND and cur is not None and cur.session_id == val.session_id:
                        stop(False)
                elif kind == "ended":
                    if val is cur:
                        cur = None
                    else:
                        ending.discard(val)
                    if cur is None and not draining and state.state != pb.WorkerState.IDLE:
                        report(pb.WorkerState.IDLE, "")
        finally:
            # Bindings end with their registration: a broken control channel
            # cancels their streams and the queue manager requeues.
            bindings = ([cur] if cur is not None else []) + list(ending)
            if err is not None:
                for b in bindings:
                    b.cancel()
            for b in bindings:
                b.join()
            out.put(None)
            call.cancel()

    # -- batches -------------------------------------------------------------

    def _shared(self, session_id: str, level: int) -> Any:
        with self._nodecache_lock:
            if self._nodecache is None:
                self._nodecache = NodeCache(self.node_cache_address, api_key=self.api_key,
                                            decoder=self.shared_decoder, wait=self.shared_data_wait)
        return self._nodecache.get(session_id, level)

    def _dispatch(self, b: _Binding, tb: pb.Batch) -> None:
        """Runs tb's tasks on the pool; the last to finish answers it."""
        level = tb.required_shared_data_update_level if tb.use_shared_data else None
        msgs = [(m.id, m.payload, m.attempts) for m in tb.messages]
        answer = _Answer(b, tb.id, tb.session_id, msgs)
        if not msgs:
            answer.send()
            return
        if self.processes:
            n = min(self.concurrency, len(msgs))
            chunks = [msgs[i::n] for i in range(n)]
            answer.expect([[i for i in range(j, len(msgs), n)] for j in range(n)])
            for j, chunk in enumerate(chunks):
                f = self._pool.submit(_child_run, b.session_id, tb.id, level, chunk)
                f.add_done_callback(lambda f, j=j: answer.done_chunk(j, f))
            return
        shared = None
        if level is not None:
            try:
                shared = self._shared(b.session_id, level)
            except Exception as e:
                answer.fail_all(f"shared data level {level}: {_error_text(e)}")
                return
        answer.expect([[i] for i in range(len(msgs))])
        for i, m in enumerate(msgs):
            f = self._pool.submit(_run_chunk, self.handler, self.codec, shared, b.session_id, tb.id, [m])
            f.add_done_callback(lambda f, i=i: answer.done_chunk(i, f))


class _Answer:
    """The result batch of one task batch, filled as its chunks finish."""

    def __init__(self, b: _Binding, batch_id: str, session_id: str, msgs: list[tuple[str, bytes, int]]):
        self.b, self.batch_id, self.session_id, self.msgs = b, batch_id, session_id, msgs
        self.results: list[tuple[bytes, str] | None] = [None] * len(msgs)
        self.lock = threading.Lock()
        self.chunks: list[list[int]] = []
        self.left = 0

    def expect(self, chunks: list[list[int]]) -> None:
        self.chunks, self.left = chunks, len(chunks)

    def done_chunk(self, j: int, f: cf.Future) -> None:
        idx = self.chunks[j]
        try:
            res = f.result()
        except BaseException as e:  # a dead pool process, a cancelled future
            res = [(b"", _error_text(e))] * len(idx)
        with self.lock:
            for i, r in zip(idx, res):
                self.results[i] = r
            self.left -= 1
            last = self.left == 0
        if last:
            self.send()

    def fail_all(self, err: str) -> None:
        self.results = [(b"", err)] * len(self.msgs)
        self.send()

    def send(self) -> None:
        out = pb.Batch(id=self.batch_id, session_id=self.session_id)
        for (id, _, attempts), (res, err) in zip(self.msgs, self.results):
            if err:
                out.messages.add(id=id, error=err, attempts=attempts)
            else:
                out.messages.add(id=id, payload=res, attempts=attempts)
        self.b.finish(out)


class _Binding:
    """One WorkerStream: the worker's share of a session's batches."""

    def __init__(self, w: Worker, stub, reg: object, worker_id: str, session_id: str):
        self.w, self.reg, self.session_id = w, reg, session_id
        self.cond = threading.Condition()
        self.answers: list[pb.Batch] = []
        self.inflight = 0       # batches received and not yet answered
        self.stopping = False   # half-close once nothing is in flight
        self.draining = False   # and take no new batch meanwhile
        self.closed = False     # half-closed
        md = w._md + (("workerid", worker_id), ("sessionid", session_id))
        self.call = stub.WorkerStream(self._requests(), metadata=md)
        self.thread = threading.Thread(target=self._run, name=f"alpcrun-binding-{session_id}", daemon=True)
        self.thread.start()

    def _requests(self) -> Iterator[pb.Batch]:
        while True:
            with self.cond:
                while not self.answers and not self._done_locked():
                    self.cond.wait()
                if not self.answers:
                    self.closed = True
                    return
                out, self.answers = self.answers, []
            yield from out

    def _done_locked(self) -> bool:
        return self.closed or (self.stopping and self.inflight == 0)

    def _run(self) -> None:
        try:
            for tb in self.call:
                with self.cond:
                    if self.draining or self.closed:
                        continue  # unanswered: requeued when the stream ends
                    self.inflight += 1
                self.w._dispatch(self, tb)
        except grpc.RpcError:
            pass  # the queue manager requeues what this stream did not answer
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()
            self.w._events.put(("ended", self.reg, self))

    def finish(self, out: pb.Batch) -> None:
        with self.cond:
            self.inflight -= 1
            if not self.closed:
                self.answers.append(out)
            self.cond.notify_all()

    def stop(self, drain: bool) -> None:
        with self.cond:
            self.stopping = True
            self.draining = self.draining or drain
            self.cond.notify_all()

    def cancel(self) -> None:
        self.call.cancel()

    def join(self) -> None:
        self.thread.join()


def run(handler: Handler, **options: Any) -> None:
    """Runs a Worker(handler, **options) until SIGINT or SIGTERM, then
    drains and returns. From the main thread only (it installs the signal
    handlers)."""
    w = Worker(handler, **options)
    prev = {s: signal.signal(s, lambda *_: w.stop()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        w.run()
    finally:
        for s, h in prev.items():
            signal.signal(s, h)
