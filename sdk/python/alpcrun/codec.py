"""Codecs turn task payloads and results into bytes and back. The client
and its workers must use the same one."""

import json
import pickle
from typing import Any, Protocol


class Codec(Protocol):
    def encode(self, obj: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class Raw:
    """Bytes as they are (the default)."""

    def encode(self, obj: bytes) -> bytes:
        if not isinstance(obj, (bytes, bytearray, memoryview)):
            raise TypeError(f"payload must be bytes with the Raw codec, not {type(obj).__name__}; pass codec=alpcrun.Pickle() or alpcrun.Json()")
        return bytes(obj)

    def decode(self, data: bytes) -> bytes:
        return data


class Pickle:
    """Any picklable object, numpy arrays included. Only between parties
    that trust each other: unpickling runs code."""

    def encode(self, obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, data: bytes) -> Any:
        return pickle.loads(data)


class Json:
    """JSON values, readable by workers in any language."""

    def encode(self, obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)
