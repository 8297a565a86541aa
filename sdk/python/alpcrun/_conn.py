"""Channels to the services, as the Go SDK dials them: plaintext by
default, the API key from METALCORE_API_KEY in metadata "api_key", and
message limits large enough for the services' largest batches."""

import os

import grpc

from .errors import Unavailable

ENV_API_KEY = "METALCORE_API_KEY"
ENV_QUEUE_MANAGER_ADDR = "METALCORE_QUEUE_MANAGER_ADDR"
ENV_CENTRAL_CACHE_ADDR = "METALCORE_CENTRAL_CACHE_ADDR"
ENV_NODE_CACHE_ADDR = "METALCORE_NODE_CACHE_ADDR"
DEFAULT_QUEUE_MANAGER_ADDR = "localhost:1337"
DEFAULT_CENTRAL_CACHE_ADDR = "localhost:2337"
DEFAULT_NODE_CACHE_ADDR = "localhost:3337"

# The queue manager's default maxMessageBytes (80 MiB): a batch it accepts
# is one this client can receive.
MAX_MESSAGE_BYTES = 80 << 20


def resolve_address(addr: str | None, env: str, default: str) -> str:
    return addr or os.environ.get(env) or default


def api_key_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata every call carries: "api_key" from api_key, else from
    $METALCORE_API_KEY; none when both are empty."""
    key = api_key if api_key is not None else os.environ.get(ENV_API_KEY, "")
    return (("api_key", key),) if key else ()


def channel(addr: str, credentials: grpc.ChannelCredentials | None = None, options=()) -> grpc.Channel:
    opts = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # gRPC's own reconnect backoff (1 s growing to 120 s) would keep a
        # session from its restarted queue manager for minutes; the SDK
        # retries with its own backoff, so the channel follows quickly.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 2000),
        *options,
    ]
    if credentials is not None:
        return grpc.secure_channel(addr, credentials, options=opts)
    return grpc.insecure_channel(addr, options=opts)


def wait_ready(ch: grpc.Channel, addr: str, timeout: float | None) -> None:
    """Waits until ch is connected, so that a wrong address fails here
    rather than at the first call."""
    try:
        grpc.channel_ready_future(ch).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        ch.close()
        raise Unavailable(f"{addr} not ready after {timeout}s") from None


class Connection:
    """A channel dialled and waited for: address (else $env, else default),
    the api_key metadata, the channel. Base of the SDK's service clients."""

    def __init__(self, address: str | None, env: str, default: str, api_key: str | None,
                 credentials: grpc.ChannelCredentials | None, timeout: float | None, options):
        self.address = resolve_address(address, env, default)
        self._md = api_key_metadata(api_key)
        self._channel = channel(self.address, credentials, options)
        wait_ready(self._channel, self.address, timeout)
