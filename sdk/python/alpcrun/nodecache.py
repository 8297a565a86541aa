"""Shared data as workers read it: through the node cache of their node,
once per (session, level), kept decoded."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable

import grpc

from . import _conn
from .errors import from_rpc
from .v1 import alpcrun_pb2 as pb
from .v1 import alpcrun_pb2_grpc as pb_grpc

# How many decoded (session, level) values a NodeCache keeps.
DEFAULT_KEEP = 4
# How long a batch waits for shared data that is missing (NOT_FOUND: a
# restarted cache not yet refilled by its owner) or unreachable
# (UNAVAILABLE), in seconds, before its tasks fail.
DEFAULT_SHARED_DATA_WAIT = 15.0


class NodeCache:
    """Reads a session's shared data from the node cache (address default
    $METALCORE_NODE_CACHE_ADDR, else localhost:3337) and keeps the decoded
    value per (session, level), the least recently used going first;
    threads that need a level it lacks wait for one fetch. The value is
    shared by every task at that level: treat it as read-only."""

    def __init__(self, address: str | None = None, *, api_key: str | None = None,
                 decoder: Callable[[bytes], Any] | None = None, keep: int = DEFAULT_KEEP,
                 wait: float = DEFAULT_SHARED_DATA_WAIT):
        self.address = _conn.resolve_address(address, _conn.ENV_NODE_CACHE_ADDR, _conn.DEFAULT_NODE_CACHE_ADDR)
        self._md = _conn.api_key_metadata(api_key)
        self._channel = _conn.channel(self.address)
        self._stub = pb_grpc.CacheStub(self._channel)
        self._decode = decoder or (lambda b: b)
        self._keep = max(1, keep)
        self._wait = wait
        self._lock = threading.Lock()
        self._vals: collections.OrderedDict[tuple[str, int], Any] = collections.OrderedDict()
        self._flights: dict[tuple[str, int], threading.Lock] = {}

    def get(self, session_id: str, level: int) -> Any:
        """The session's shared data at exactly level, decoded."""
        k = (session_id, level)
        with self._lock:
            if k in self._vals:
                self._vals.move_to_end(k)
                return self._vals[k]
            flight = self._flights.setdefault(k, threading.Lock())
        with flight:
            with self._lock:
                if k in self._vals:
                    return self._vals[k]
            try:
                v = self._decode(self._fetch(session_id, level))
            finally:
                with self._lock:
                    self._flights.pop(k, None)
            with self._lock:
                self._vals[k] = v
                while len(self._vals) > self._keep:
                    self._vals.popitem(last=False)
            return v

    def _fetch(self, session_id: str, level: int) -> bytes:
        # Missing data may be on its way back (a restarted cache refilled
        # by its owner), an unreachable cache may come back: retry both
        # until the deadline rather than fail every task at once.
        deadline = time.monotonic() + self._wait
        backoff = 0.01
        while True:
            try:
                return self._stub.GetSharedData(pb.SharedData(session_id=session_id, update_level=level), metadata=self._md).payload
            except grpc.RpcError as e:
                retry = e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE)
                if not retry or time.monotonic() + backoff > deadline:
                    raise from_rpc(e, cache=True) from None
            time.sleep(backoff)
            backoff = min(2 * backoff, 1.0)

    def close(self) -> None:
        self._channel.close()
