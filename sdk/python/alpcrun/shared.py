"""Shared data: what every task of a session reads, written once to the
central cache at an update level. Batches name the level they need
(Session.set_shared_data_level, or shared_data_level= at creation) and
workers read it through their node cache, which keeps each level it
fetched; so new content needs a new level, which update() gives it."""

from __future__ import annotations

import datetime
import threading
from typing import Any, Iterable

import grpc
from google.protobuf import duration_pb2

from . import _conn
from .errors import from_rpc
from .v1 import alpcrun_pb2 as pb
from .v1 import alpcrun_pb2_grpc as pb_grpc


def _ttl(seconds: float | None) -> duration_pb2.Duration | None:
    if not seconds:
        return None  # the cache's maxTTL
    d = duration_pb2.Duration()
    d.FromTimedelta(datetime.timedelta(seconds=seconds))
    return d


class SharedData(_conn.Connection):
    """A connection to a Cache service: the central cache (address default
    $METALCORE_CENTRAL_CACHE_ADDR, else localhost:2337), or a node cache,
    which forwards writes to it. Thread-safe.

    It remembers the last data it wrote per session, so that a cache that
    lost it (restarted) gets it again: update() does so on NOT_FOUND, and
    keep() checks in the background."""

    def __init__(self, address: str | None = None, *, api_key: str | None = None,
                 credentials: grpc.ChannelCredentials | None = None, timeout: float | None = 10.0,
                 options: Iterable[tuple[str, Any]] = ()):
        super().__init__(address, _conn.ENV_CENTRAL_CACHE_ADDR, _conn.DEFAULT_CENTRAL_CACHE_ADDR, api_key,
                         credentials, timeout, options)
        self._stub = pb_grpc.CacheStub(self._channel)
        self._lock = threading.Lock()
        self._owned: dict[str, tuple[int, bytes, float | None]] = {}
        self._stop = threading.Event()
        self.restored = 0  # times owned data was written again to a cache that lost it

    def _call(self, method, req):
        try:
            return method(req, metadata=self._md)
        except grpc.RpcError as e:
            raise from_rpc(e, cache=True) from None

    def set(self, session_id: str, level: int, payload: bytes, ttl: float | None = None) -> None:
        """Creates the session's shared data at level, to live ttl seconds
        (None: the cache's maxTTL). AlreadyExists if it has some."""
        self._call(self._stub.SetSharedData, pb.SharedData(session_id=session_id, update_level=level, payload=payload, ttl=_ttl(ttl)))
        with self._lock:
            self._owned[session_id] = (level, payload, ttl)

    def update(self, session_id: str, payload: bytes, ttl: float | None = None, *, level: int | None = None) -> int:
        """Replaces the payload at the next level (or level, which must be
        above the stored one: LevelMismatch otherwise) and returns the level."""
        req = pb.SharedData(session_id=session_id, update_level=level, payload=payload, ttl=_ttl(ttl))
        try:
            st = self._stub.UpdateSharedData(req, metadata=self._md)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND or not self._restore(session_id):
                raise from_rpc(e, cache=True) from None
            st = self._call(self._stub.UpdateSharedData, req)
        with self._lock:
            self._owned[session_id] = (st.update_level, payload, ttl)
        return st.update_level

    def _restore(self, session_id: str) -> bool:
        """Writes the owned data again after NOT_FOUND; False when none is owned."""
        with self._lock:
            owned = self._owned.get(session_id)
        if owned is None:
            return False
        level, payload, ttl = owned
        try:
            self._stub.SetSharedData(pb.SharedData(session_id=session_id, update_level=level, payload=payload, ttl=_ttl(ttl)), metadata=self._md)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise from_rpc(e, cache=True) from None
        self.restored += 1
        return True

    def get(self, session_id: str, level: int | None = None) -> tuple[bytes, int]:
        """The payload at exactly level (None: the newest) and its level."""
        d = self._call(self._stub.GetSharedData, pb.SharedData(session_id=session_id, update_level=level))
        return d.payload, d.update_level

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._owned.pop(session_id, None)
        self._call(self._stub.DeleteSharedData, pb.SharedData(session_id=session_id))

    def keep(self, interval: float = 5.0) -> threading.Thread:
        """Starts a thread that checks every interval seconds that the cache
        still holds the data this client wrote, and writes it again where it
        does not; it stops at close(). The check sends no payload: an update
        to the stored level is refused with FAILED_PRECONDITION when the data
        is there and NOT_FOUND when it is gone."""
        def loop():
            while not self._stop.wait(interval):
                with self._lock:
                    levels = {s: o[0] for s, o in self._owned.items()}
                for sid, level in levels.items():
                    try:
                        self._stub.UpdateSharedData(pb.SharedData(session_id=sid, update_level=level), metadata=self._md)
                    except grpc.RpcError as e:
                        if e.code() == grpc.StatusCode.NOT_FOUND:
                            try:
                                self._restore(sid)
                            except Exception:
                                pass  # retried at the next tick
        t = threading.Thread(target=loop, name="alpcrun-shared-keep", daemon=True)
        t.start()
        return t

    def close(self) -> None:
        self._stop.set()
        self._channel.close()

    def __enter__(self) -> SharedData:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
