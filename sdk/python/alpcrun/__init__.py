"""ALPCRUN.CH Python SDK: a client (sessions of tasks and results, shared
data) and a worker (alpcrun.worker.run) for the Go services.

    import alpcrun
    with alpcrun.Client() as c, c.session("pricing") as s:
        for r in s.map(payloads):
            ...
"""

from .client import Client, DeadLetter, Result, Session, attributes
from .codec import Codec, Json, Pickle, Raw
from .errors import (AlpcrunError, AlreadyExists, Closed, Incomplete, InvalidArgument, LevelMismatch, NotFound,
                     PermissionDenied, Unauthenticated, Unavailable)
from .nodecache import NodeCache
from .progress import Progress, track
from .shared import SharedData

__all__ = [
    "Client", "Session", "Result", "DeadLetter", "attributes", "SharedData", "NodeCache",
    "Codec", "Raw", "Pickle", "Json", "Progress", "track",
    "AlpcrunError", "NotFound", "AlreadyExists", "InvalidArgument", "Unauthenticated", "PermissionDenied",
    "Unavailable", "LevelMismatch", "Closed", "Incomplete",
]
