"""The client side of ALPCRUN.CH: sessions that take tasks and give back
their results, with the Go client SDK's guarantees (docs/guarantees.md).

    with alpcrun.Client() as c, c.session("pricing", max_workers=8) as s:
        for r in s.map(payloads):
            use(r.id, r.payload)
        failed = s.dead_letters()

Batching. submit() appends to the session's open batch. One sender
(gRPC's request thread) sends batches Nagle-style: when it is idle the first
task goes out at once, alone; while a send is under way the tasks submitted
meanwhile accumulate and go out together, up to max_batch_size per batch.
linger > 0 holds a partial batch up to that many seconds for more tasks.

Flow control. At most max_inflight tasks are unanswered at a time: submit()
blocks (or asubmit() awaits) until results free the window. Results wait in
memory until read.

Reconnecting. The session keeps every task until its result or dead letter
arrives. When the stream breaks it reopens it with backoff and metadata
"sessionid", and submits again every task that was sent and has no answer;
the queue manager drops the ids it still holds and runs the ones it lost.
A queue manager that no longer knows the session after a break (it
restarted) gets it created anew under the same id and attributes. When the
stream ends after close_send() with tasks unanswered, their dead letters are
read and the rest run again. A result that arrives twice is delivered once.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import itertools
import random
import threading
import time
from typing import Any, AsyncIterator, Iterable, Iterator, NamedTuple

import grpc
from google.protobuf import duration_pb2

from . import _conn
from .codec import Codec, Raw
from .errors import RETRYABLE, AlpcrunError, Closed, Incomplete, InvalidArgument, Unavailable, from_rpc
from .v1 import alpcrun_pb2 as pb
from .v1 import alpcrun_pb2_grpc as pb_grpc

# Reconnect backoff bounds, in seconds.
MIN_BACKOFF = 0.05
MAX_BACKOFF = 2.0
# How often a session that ended with tasks unanswered submits them again:
# results lost with a broken connection come back in one round, so more
# rounds mean they went elsewhere.
MAX_ROUNDS = 5
# How long a full window waits for results before the session reads its
# dead letters, which free the window too, in seconds.
DEAD_LETTER_POLL = 0.5
# Caller-made batches (submit_batch) that may wait for the sender.
READY_LIMIT = 2


class Result(NamedTuple):
    id: str
    payload: Any
    # Deliveries to workers the task took.
    attempts: int


class DeadLetter(NamedTuple):
    """A task that failed: its worker raised, or it ran out of attempts."""

    id: str
    # The task's payload when this session submitted it, so that it can be
    # submitted again.
    payload: Any
    error: str
    attempts: int


_DURATIONS = ("idle_timeout", "task_timeout")
_ATTRIBUTES = frozenset(pb.SessionAttributes.DESCRIPTOR.fields_by_name)


def _duration(v: float | datetime.timedelta) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(v if isinstance(v, datetime.timedelta) else datetime.timedelta(seconds=v))
    return d


def attributes(**kw: Any) -> pb.SessionAttributes:
    """SessionAttributes from keyword arguments named as the proto's fields
    (priority, client_id, min_workers, max_workers, idle_timeout,
    preemptible, cleanup_on_client_exit, max_inflight_batches_per_worker,
    tags, max_attempts, task_timeout); durations in seconds or timedelta."""
    unknown = set(kw) - _ATTRIBUTES
    if unknown:
        raise TypeError(f"unknown session attributes {sorted(unknown)}; known: {sorted(_ATTRIBUTES)}")
    a = pb.SessionAttributes()
    for k, v in kw.items():
        if v is None:
            continue
        if k in _DURATIONS:
            getattr(a, k).CopyFrom(_duration(v))
        elif k == "tags":
            a.tags.extend(v)
        else:
            setattr(a, k, v)
    return a


class Client(_conn.Connection):
    """A connection to a queue manager; it may carry many sessions and is
    safe to share between threads.

    address defaults to $METALCORE_QUEUE_MANAGER_ADDR, else localhost:1337;
    api_key to $METALCORE_API_KEY. The constructor waits up to timeout
    seconds for the connection, so a wrong address fails here with
    Unavailable."""

    def __init__(self, address: str | None = None, *, api_key: str | None = None,
                 credentials: grpc.ChannelCredentials | None = None, timeout: float | None = 10.0,
                 options: Iterable[tuple[str, Any]] = ()):
        super().__init__(address, _conn.ENV_QUEUE_MANAGER_ADDR, _conn.DEFAULT_QUEUE_MANAGER_ADDR, api_key,
                         credentials, timeout, options)
        self._stub = pb_grpc.QueueStub(self._channel)
        self._closed = False

    def session(self, app_id: str, *, id: str = "", max_batch_size: int = 100, linger: float = 0.0,
                max_inflight: int = 10_000, codec: Codec | None = None, shared_data_level: int | None = None,
                batch_priority: int = 0, reconnect_timeout: float = 60.0, resubmit: bool = True,
                **attrs: Any) -> Session:
        """Creates a session and opens its stream. attrs are the session's
        attributes (see attributes()). reconnect_timeout is how long a broken
        stream is retried (negative: never). resubmit=False turns off the
        resubmission of unanswered tasks, which only makes sense to watch
        what it protects against."""
        if not app_id:
            raise InvalidArgument("app_id is required")
        req = pb.Session(id=id, app=pb.App(id=app_id), attributes=attributes(**attrs))
        try:
            resp = self._stub.CreateSession(req, metadata=self._metadata(req.attributes.client_id))
        except grpc.RpcError as e:
            raise from_rpc(e) from None
        return Session(self, resp, max_batch_size=max_batch_size, linger=linger, max_inflight=max_inflight,
                       codec=codec or Raw(), shared_data_level=shared_data_level, batch_priority=batch_priority,
                       reconnect_timeout=reconnect_timeout, resubmit=resubmit)

    def _metadata(self, client_id: str = "", session_id: str = ""):
        md = self._md
        if client_id:
            # A queue manager running with requireClientID serves a session
            # only to its client.
            md += (("clientid", client_id),)
        if session_id:
            md += (("sessionid", session_id),)
        return md

    def close(self) -> None:
        """Closes the connection; the streams of its sessions end."""
        self._closed = True
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Session:
    """An open session: tasks in, results out. Made by Client.session; its
    methods are safe to call from several threads. As a context manager it
    closes the session on exit (see close)."""

    def __init__(self, client: Client, created: pb.Session, *, max_batch_size: int, linger: float,
                 max_inflight: int, codec: Codec, shared_data_level: int | None, batch_priority: int,
                 reconnect_timeout: float, resubmit: bool):
        self._c = client
        self.id: str = created.id
        self._app = created.app.id
        self._attrs = created.attributes
        self._max_batch = max(1, max_batch_size)
        self._linger = linger
        self._window = max(1, max_inflight)
        self.codec = codec
        self._raw = type(codec) is Raw  # bytes pass through as they are
        self._priority = batch_priority
        self._reconnect_timeout = reconnect_timeout
        self._resubmit_enabled = resubmit

        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)    # the sender waits for tasks
        self._space = threading.Condition(self._lock)   # submitters wait for room
        self._arrived = threading.Condition(self._lock)  # readers wait for results
        self._level = shared_data_level
        self._acc = self._new_batch(self._level)  # the open batch
        self._ready: collections.deque[pb.Batch] = collections.deque()
        # Tasks submitted and not yet answered: id -> (payload bytes, level).
        self._pending: dict[str, tuple[bytes, int | None]] = {}
        self._results: collections.deque[tuple[str, bytes, int]] = collections.deque()
        self._dead: list[DeadLetter] = []
        self._wakers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._ids = itertools.count()
        self._gen = 0  # bumped when a stream ends, so its sender stops
        self._call = None
        self._done = False      # close_send or close was called
        self._closing = False   # close was called
        self._finished = threading.Event()
        self._error: Exception | None = None
        self.resubmitted = 0  # tasks submitted again after a break
        self.recreated = 0    # times the session was created anew
        self._thread = threading.Thread(target=self._run, name=f"alpcrun-session-{self.id}", daemon=True)
        self._thread.start()

    # -- submitting -------------------------------------------------------

    def submit(self, payload: Any, id: str | None = None, *, timeout: float | None = None) -> str:
        """Adds a task to the open batch and returns its id (a counter when
        id is None; ids must be unique in the session). Blocks while
        max_inflight tasks are unanswered or the open batch is full, up to
        timeout seconds (TimeoutError)."""
        data = payload if self._raw and type(payload) is bytes else self.codec.encode(payload)
        with self._lock:
            deadline = None
            pending, msgs = self._pending, self._acc.messages
            while self._done or self._finished.is_set() or len(pending) >= self._window or len(msgs) >= self._max_batch:
                self._check_open()
                if timeout is None:
                    self._wait_space_locked()
                elif (deadline := deadline or time.monotonic() + timeout) <= time.monotonic():
                    raise TimeoutError("submit: the session's window stayed full")
                else:
                    self._wait_space_locked(deadline - time.monotonic())
                msgs = self._acc.messages
            return self._add_locked(id, data)

    def _wait_space_locked(self, timeout: float | None = None) -> None:
        """Waits until results (or the sender) free room, or timeout. Tasks
        that failed hold their place in the window until their dead letters
        are read, and the queue manager sends those only when asked: a
        window that stays full for DEAD_LETTER_POLL is a reason to ask."""
        wait = DEAD_LETTER_POLL if timeout is None else min(timeout, DEAD_LETTER_POLL)
        if self._space.wait(wait) or len(self._pending) < self._window:
            return
        self._lock.release()
        try:
            dead = self._fetch_dead()
        except AlpcrunError:
            dead = []  # the queue manager is away: the stream's reconnect deals with it
        finally:
            self._lock.acquire()
        self._dead.extend(dead)

    def _add_locked(self, id: str | None, data: bytes) -> str:
        if id is None:
            id = f"t{next(self._ids)}"
            while id in self._pending:
                id = f"t{next(self._ids)}"
        elif not id:
            raise InvalidArgument("empty task id")
        elif id in self._pending:
            raise InvalidArgument(f"task id {id!r} is already pending")
        self._pending[id] = (data, self._level)
        self._acc.messages.add(id=id, payload=data)
        n = len(self._acc.messages)
        if n == 1 or n >= self._max_batch:
            self._work.notify()
        return id

    def submit_many(self, payloads: Iterable[Any]) -> list[str]:
        """submit() for many payloads, with ids from the session's counter:
        the same batching and window, at a fraction of the per-task cost."""
        ids: list[str] = []
        it = iter(payloads)
        while chunk := list(itertools.islice(it, self._max_batch)):
            if not (self._raw and all(type(p) is bytes for p in chunk)):
                chunk = [self.codec.encode(p) for p in chunk]
            i = 0
            with self._lock:
                while i < len(chunk):
                    self._check_open()
                    room = min(self._window - len(self._pending), self._max_batch - len(self._acc.messages))
                    if room <= 0:
                        self._wait_space_locked()
                        continue
                    pending, add, level, counter = self._pending, self._acc.messages.add, self._level, self._ids
                    for data in chunk[i:i + room]:
                        id = f"t{next(counter)}"
                        while id in pending:
                            id = f"t{next(counter)}"
                        pending[id] = (data, level)
                        add(id=id, payload=data)
                        ids.append(id)
                    i += room
                    self._work.notify()
        return ids

    async def asubmit(self, payload: Any, id: str | None = None) -> str:
        """submit() for asyncio: awaits, without blocking the loop, while the
        window is full."""
        data = self.codec.encode(payload)
        with self._lock:
            self._check_open()
            if len(self._pending) < self._window and len(self._acc.messages) < self._max_batch:
                return self._add_locked(id, data)
        return await asyncio.to_thread(self.submit, payload, id)

    def submit_batch(self, payloads: dict[str, Any]) -> None:
        """Sends {id: payload} as one batch, unchanged by the batching.
        Blocks while the batch does not fit in the max_inflight window (a
        batch larger than the window waits for it to be empty)."""
        if not payloads:
            raise InvalidArgument("empty batch")
        if self._raw and all(type(p) is bytes for p in payloads.values()):
            enc = payloads
        else:
            enc = {i: self.codec.encode(p) for i, p in payloads.items()}
        with self._lock:
            while True:
                self._check_open()
                fits = not self._pending or len(self._pending) + len(enc) <= self._window
                if len(self._ready) < READY_LIMIT and fits:
                    break
                self._wait_space_locked()
            for i in enc:
                if not i or i in self._pending:
                    raise InvalidArgument(f"task id {i!r} is empty or already pending")
            b = self._new_batch(self._level)
            for i, data in enc.items():
                self._pending[i] = (data, self._level)
                b.messages.add(id=i, payload=data)
            self._ready.append(b)
            self._work.notify()

    def set_shared_data_level(self, level: int | None) -> None:
        """Sets the shared-data level that batches built from now on require
        (None: none). Tasks already submitted keep the level they were
        submitted under."""
        with self._lock:
            if self._acc.messages:
                self._ready.append(self._acc)
                self._space.notify_all()
            self._level = level
            self._acc = self._new_batch(level)
            self._work.notify()

    def close_send(self) -> None:
        """No more tasks: the open batch is sent, and the stream ends once
        every task has a result or a dead letter."""
        with self._lock:
            self._done = True
            self._work.notify_all()

    def map(self, payloads: Iterable[Any]) -> Iterator[Result]:
        """Submits every payload from a background thread, then close_send,
        and yields the results as they arrive (in any order)."""
        failed: list[BaseException] = []

        def feed():
            try:
                self.submit_many(payloads)
            except BaseException as e:  # reported to the reader below
                failed.append(e)
            finally:
                self.close_send()

        t = threading.Thread(target=feed, name=f"alpcrun-feed-{self.id}", daemon=True)
        t.start()
        yield from self.results()
        t.join()
        if failed and not isinstance(failed[0], Closed):
            raise failed[0]

    # -- results ----------------------------------------------------------

    def results(self) -> Iterator[Result]:
        """Yields results as they arrive until the stream ends (after
        close_send, once every task is answered, or after close). Raises the
        error that ended the session, if any."""
        while True:
            with self._lock:
                while not self._results and not self._finished.is_set():
                    self._arrived.wait()
                got = self._take_locked()
            if got is None:
                return
            yield from self._decoded(got)

    def _decoded(self, got: list[tuple[str, bytes, int]]) -> Iterator[Result]:
        if self._raw:  # the common case, at a few hundred ns a task
            yield from itertools.starmap(Result, got)
            return
        decode = self.codec.decode
        for id, data, attempts in got:
            yield Result(id, decode(data), attempts)

    async def aresults(self) -> AsyncIterator[Result]:
        """results() for asyncio."""
        ev = asyncio.Event()
        waker = (asyncio.get_running_loop(), ev)
        with self._lock:
            self._wakers.add(waker)
        try:
            while True:
                with self._lock:
                    got = self._take_locked() if self._results or self._finished.is_set() else []
                if got is None:
                    return
                if not got:
                    await ev.wait()
                    ev.clear()
                    continue
                for r in self._decoded(got):
                    yield r
        finally:
            with self._lock:
                self._wakers.discard(waker)

    def _take_locked(self):
        """The results waiting, or None when the session ended (raising its
        error if it failed)."""
        if self._results:
            got = list(self._results)
            self._results.clear()
            return got
        if self._error is not None:
            raise self._error
        return None

    def wait(self, timeout: float | None = None) -> None:
        """Blocks until the stream ends; raises the error that ended it."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"session {self.id} still running")
        if self._error is not None:
            raise self._error

    @property
    def pending(self) -> int:
        """Tasks submitted and not yet answered."""
        with self._lock:
            return len(self._pending)

    def dead_letters(self) -> list[DeadLetter]:
        """Reads and removes the session's dead letters queued now, with
        those the session read itself; it may be called while the session
        runs."""
        with self._lock:
            out, self._dead = self._dead, []
        return out + self._fetch_dead()

    def _fetch_dead(self) -> list[DeadLetter]:
        out = []
        try:
            for b in self._c._stub.ClientStreamDeadLetters(pb.Session(id=self.id), metadata=self._md()):
                with self._lock:
                    for m in b.messages:
                        # Workers answer a failure without the payload.
                        data = self._pending.pop(m.id, (m.payload, None))[0]
                        out.append((m.id, data, m.error, m.attempts))
                    self._space.notify_all()
        except grpc.RpcError as e:
            raise from_rpc(e) from None
        return [DeadLetter(i, self.codec.decode(d), err, a) for i, d, err, a in out]

    # -- session ----------------------------------------------------------

    def update(self, **attrs: Any) -> None:
        """Changes the session's attributes; only those given change."""
        a = attributes(**attrs)
        try:
            self._c._stub.UpdateSession(pb.Session(id=self.id, attributes=a), metadata=self._md())
        except grpc.RpcError as e:
            raise from_rpc(e) from None
        with self._lock:
            if "tags" in attrs:
                del self._attrs.tags[:]
            self._attrs.MergeFrom(a)

    def close(self) -> None:
        """Stops the stream and closes the session on the queue manager,
        which discards its queued tasks, unread results and dead letters."""
        with self._lock:
            self._done = self._closing = True
            self._gen += 1
            call = self._call
            self._work.notify_all()
            self._space.notify_all()
        if call is not None:
            call.cancel()
        self._thread.join()
        try:
            self._c._stub.CloseSession(pb.Session(id=self.id), metadata=self._md())
        except grpc.RpcError as e:
            raise from_rpc(e) from None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type, *_) -> None:
        try:
            self.close()
        except Exception:
            if exc_type is None:
                raise

    def _md(self, stream: bool = False):
        return self._c._metadata(self._attrs.client_id, self.id if stream else "")

    def _check_open(self) -> None:
        if self._finished.is_set():
            raise self._error or Closed(f"session {self.id} ended")
        if self._done:
            raise Closed(f"session {self.id}: no more tasks after close_send or close")

    def _new_batch(self, level: int | None) -> pb.Batch:
        b = pb.Batch(session_id=self.id, priority=self._priority)
        if level is not None:
            b.use_shared_data = True
            b.required_shared_data_update_level = level
        return b

    # -- the stream ---------------------------------------------------------

    def _requests(self, gen: int) -> Iterator[pb.Batch]:
        """The batches of stream gen, as gRPC's request thread asks for
        them: it asks for the next once the last is sent, so tasks submitted
        meanwhile go out together. Returning half-closes the stream."""
        while True:
            deadline = None
            with self._lock:
                while True:
                    if self._gen != gen:
                        return
                    if self._ready:
                        b = self._ready.popleft()
                        self._space.notify_all()
                        break
                    n = len(self._acc.messages)
                    lingered = deadline is not None and time.monotonic() >= deadline
                    if n and (n >= self._max_batch or self._done or self._linger <= 0 or lingered):
                        b, self._acc = self._acc, self._new_batch(self._level)
                        self._space.notify_all()
                        break
                    if not n and self._done:
                        return
                    if n and deadline is None:
                        deadline = time.monotonic() + self._linger
                    self._work.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
            yield b

    def _stream(self) -> tuple[bool, grpc.RpcError | None]:
        """Runs one ClientStream until it ends; returns whether any result
        arrived and the error that ended it (None: ended with OK)."""
        with self._lock:
            if self._closing:
                return False, None
            gen = self._gen
            call = self._c._stub.ClientStream(self._requests(gen), metadata=self._md(stream=True))
            self._call = call
        healthy = False
        try:
            for b in call:
                healthy = True
                self._deliver(b)
            return healthy, None
        except grpc.RpcError as e:
            return healthy, e
        finally:
            with self._lock:
                self._gen += 1
                self._call = None
                self._work.notify_all()
            call.cancel()

    def _deliver(self, b: pb.Batch) -> None:
        got = []
        pending = self._pending
        with self._lock:
            for m in b.messages:
                # A task answered twice (it ran again after a reconnect while
                # its first result was on the way) is delivered once.
                if pending.pop(m.id, None) is not None:
                    got.append((m.id, m.payload, m.attempts))
            if got:
                self._results.extend(got)
                self._arrived.notify_all()
                self._space.notify_all()
                self._wake_async()

    def _wake_async(self) -> None:
        for loop, ev in self._wakers:
            loop.call_soon_threadsafe(ev.set)

    def _run(self) -> None:
        err: Exception | None = None
        try:
            err = self._loop()
        except Exception as e:  # a bug must not leave readers waiting forever
            err = e
        with self._lock:
            self._error = err
            self._finished.set()
            self._arrived.notify_all()
            self._space.notify_all()
            self._wake_async()

    def _loop(self) -> Exception | None:
        """Opens the stream, and reopens it with backoff while it breaks for
        reasons worth retrying; see the module doc."""
        down = None       # when the stream was found broken; None while healthy
        backoff = MIN_BACKOFF
        broken = False    # the last stream broke: NOT_FOUND now means the session was lost
        rounds = 0
        while True:
            opened = time.monotonic()
            healthy, err = self._stream()
            if self._closing or self._c._closed:
                return None
            if err is None:
                # The queue manager answered all it holds. What is still
                # pending is a dead letter not yet read, or a result lost in
                # transit: the latter runs again.
                rounds += 1
                if rounds > MAX_ROUNDS:
                    return Unavailable(f"{self.pending} tasks still without an answer after {MAX_ROUNDS} rounds")
                try:
                    n = self._settle_lost()
                except Exception as e:
                    return e
                if n == 0:
                    return None
                continue
            now = time.monotonic()
            if healthy or now - opened > MAX_BACKOFF:
                down, backoff = None, MIN_BACKOFF
            if down is None:
                down = now
            code = err.code()
            if code == grpc.StatusCode.NOT_FOUND and broken and not healthy:
                err = self._recreate()
                code = err.code() if err is not None else None
            if err is not None and (code not in RETRYABLE or self._reconnect_timeout < 0
                                    or now - down > self._reconnect_timeout):
                return from_rpc(err)
            broken = True
            if self._resubmit_enabled:
                self._resubmit()
            if self._sleep(backoff / 2 + random.uniform(0, backoff / 2)):
                return None
            backoff = min(2 * backoff, MAX_BACKOFF)

    def _sleep(self, seconds: float) -> bool:
        """Waits; True when close() was called meanwhile."""
        with self._lock:
            self._work.wait_for(lambda: self._closing, seconds)
            return self._closing

    def _recreate(self) -> grpc.RpcError | None:
        """Creates the session again, under its id and attributes, on a
        queue manager that lost it; None means the stream can be reopened."""
        req = pb.Session(id=self.id, app=pb.App(id=self._app), attributes=self._attrs)
        try:
            self._c._stub.CreateSession(req, metadata=self._md())
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.ALREADY_EXISTS:
                return e
        self.recreated += 1
        return None

    def _settle_lost(self) -> int:
        """After a clean end with tasks pending: reads their dead letters
        (kept for dead_letters) and submits the rest again."""
        if not self.pending:
            return 0
        dead = self._fetch_dead()
        with self._lock:
            self._dead.extend(dead)
            if not self._pending:
                return 0
            if not self._resubmit_enabled:
                raise Incomplete(f"{len(self._pending)} tasks got no answer and resubmission is off")
        return self._resubmit()

    def _resubmit(self) -> int:
        """Queues again, ahead of new work, every pending task that is not
        waiting to be sent; tasks keep the shared-data level they were
        submitted under."""
        with self._lock:
            local = {m.id for m in self._acc.messages}
            for b in self._ready:
                local.update(m.id for m in b.messages)
            again: list[pb.Batch] = []
            open_: dict[int | None, pb.Batch] = {}
            n = 0
            for id, (data, level) in self._pending.items():
                if id in local:
                    continue
                b = open_.get(level)
                if b is None or len(b.messages) >= self._max_batch:
                    b = open_[level] = self._new_batch(level)
                    again.append(b)
                b.messages.add(id=id, payload=data)
                n += 1
            if n:
                self._ready.extendleft(reversed(again))
                self.resubmitted += n
                self._work.notify_all()
            return n
