"""Errors raised by the SDK. Each carries the gRPC status code, when there
was one, as ``code``."""

import grpc


class AlpcrunError(Exception):
    """Base of every error the SDK raises."""

    code: grpc.StatusCode | None = None

    def __init__(self, message: str, code: grpc.StatusCode | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFound(AlpcrunError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(AlpcrunError):
    code = grpc.StatusCode.ALREADY_EXISTS


class InvalidArgument(AlpcrunError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class Unauthenticated(AlpcrunError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(AlpcrunError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(AlpcrunError):
    code = grpc.StatusCode.UNAVAILABLE


class LevelMismatch(AlpcrunError):
    """Shared data is not at the update level asked for, or an update's
    level is not above the stored one (FAILED_PRECONDITION from a cache)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Closed(AlpcrunError):
    """The session was closed (close_send or close), or its stream ended."""


class Incomplete(AlpcrunError):
    """The session ended with tasks that got neither a result nor a dead
    letter (only when resubmission is disabled or gave up)."""


_BY_CODE = {c.code: c for c in (NotFound, AlreadyExists, InvalidArgument, Unauthenticated, PermissionDenied, Unavailable)}


def from_rpc(err: grpc.RpcError, cache: bool = False) -> AlpcrunError:
    """Turns a gRPC error into the matching AlpcrunError; FAILED_PRECONDITION
    means LevelMismatch on cache calls, which alone use it that way."""
    code = err.code() if hasattr(err, "code") else None
    details = err.details() if hasattr(err, "details") else str(err)
    cls = _BY_CODE.get(code)
    if cache and code == grpc.StatusCode.FAILED_PRECONDITION:
        cls = LevelMismatch
    if cls is None:
        return AlpcrunError(f"{code.name if code else 'error'}: {details}", code)
    return cls(details or code.name)


# Codes for which a broken stream is worth reopening: transport failures
# are, answers about the request itself are not.
RETRYABLE = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.CANCELLED,
})
