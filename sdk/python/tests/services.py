"""The real Go services for the tests and the benchmark: the binaries
built from this checkout, and the processes of one cluster on free loopback
ports, each waited for on a gRPC connection, never by sleeping."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc

SDK = Path(__file__).resolve().parents[1]
REPO = SDK.parents[1]

# Every wait in the tests is bounded by this: generous for a busy 2-core
# machine, and it only matters when a test fails.
DEADLINE = 60.0

BINARIES = {
    "queue-manager": "./cmd/queue-manager",
    "worker": "./cmd/worker",
    "central-cache": "./cmd/central-cache",
    "node-cache": "./cmd/node-cache",
    "client": "./examples/client",
    "loadgen": "./cmd/loadgen",
    "faultproxy": "./internal/faultproxy/cmd/faultproxy",
}


def build(out: Path) -> dict[str, Path]:
    """Builds the Go binaries the tests and benchmarks run into out."""
    go = shutil.which(os.environ.get("GO", "go"))
    if go is None:
        raise RuntimeError("go is not on PATH: the Go services are built from this checkout")
    subprocess.run([go, "build", "-o", str(out) + "/", *BINARIES.values()], cwd=REPO, check=True)
    return {name: out / name for name in BINARIES}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_grpc(addr: str, timeout: float = DEADLINE) -> None:
    # A short reconnect backoff: the service is starting, not failing.
    opts = [("grpc.initial_reconnect_backoff_ms", 20), ("grpc.min_reconnect_backoff_ms", 20),
            ("grpc.max_reconnect_backoff_ms", 200)]
    with grpc.insecure_channel(addr, options=opts) as ch:
        grpc.channel_ready_future(ch).result(timeout=timeout)


def wait_http(addr: str, timeout: float = DEADLINE) -> None:
    """Waits until addr accepts TCP connections, retrying refusals."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(addr.rsplit(":", 1), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # a refused connect returns at once: pace the retries


class FaultProxy:
    def __init__(self, addr: str, http: str):
        self.addr, self.http = addr, http

    def _post(self, path: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"http://{self.http}{path}", method="POST"), timeout=DEADLINE).read()

    def cut(self) -> None:
        """Closes every connection and stops accepting new ones."""
        self._post("/cut")

    def restore(self) -> None:
        self._post("/restore")


class Proc:
    """A child process whose output goes to a log file, kept for failures."""

    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict | None = None, stdout_pipe: bool = False):
        self.name = name
        self.log = log_dir / f"{name}-{len(list(log_dir.iterdir()))}.log"
        self._logf = open(self.log, "wb")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE if stdout_pipe else self._logf, stderr=self._logf,
                                  env={**os.environ, **(env or {})}, cwd=REPO)

    def read_line(self, timeout: float = DEADLINE) -> str:
        """The next line of stdout (stdout_pipe=True), waiting at most timeout."""
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise TimeoutError(f"{self.name}: no output within {timeout}s")
        return self.p.stdout.readline().decode()

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Cluster:
    """The services of one test: a queue manager, optionally the caches, Go
    and Python workers."""

    def __init__(self, bins: dict[str, Path], log_dir: Path):
        self.bins, self.log_dir = bins, log_dir
        self.procs: list[Proc] = []
        self.qm_addr = f"127.0.0.1:{free_port()}"
        self.qm: Proc | None = None
        self.central_addr = self.node_addr = ""
        self.env = {"METALCORE_QUEUE_MANAGER_ADDR": self.qm_addr, "PYTHONPATH": str(SDK)}
        self.start_qm()

    def spawn(self, name, args, **kw) -> Proc:
        p = Proc(name, args, self.log_dir, env={**self.env, **kw.pop("env", {})}, **kw)
        self.procs.append(p)
        return p

    def start_qm(self, env: dict | None = None) -> None:
        self.qm = self.spawn("queue-manager", [str(self.bins["queue-manager"]), "--listen", self.qm_addr,
                                                "--httpListen=", "--loglevel", "warn"], env=env or {})
        wait_grpc(self.qm_addr)

    def kill_qm(self) -> None:
        self.qm.kill()

    def start_caches(self) -> None:
        self.central_addr = f"127.0.0.1:{free_port()}"
        self.node_addr = f"127.0.0.1:{free_port()}"
        self.spawn("central-cache", [str(self.bins["central-cache"]), "--listen", self.central_addr, "--httpListen=",
                                      "--loglevel", "warn"])
        wait_grpc(self.central_addr)
        self.spawn("node-cache", [str(self.bins["node-cache"]), "--listen", self.node_addr, "--httpListen=",
                                   "--centralCacheAddr", self.central_addr, "--loglevel", "warn"])
        wait_grpc(self.node_addr)
        self.env["METALCORE_CENTRAL_CACHE_ADDR"] = self.central_addr
        self.env["METALCORE_NODE_CACHE_ADDR"] = self.node_addr

    def fault_proxy(self) -> FaultProxy:
        """A TCP proxy in front of the queue manager whose connections can
        be cut (internal/faultproxy)."""
        listen, http = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        self.spawn("faultproxy", [str(self.bins["faultproxy"]), "--listen", listen, "--upstream", self.qm_addr,
                                   "--http", http])
        wait_http(http)
        return FaultProxy(listen, http)

    def go_worker(self, task: str = "echo", concurrency: int = 2) -> Proc:
        return self.spawn("go-worker", [str(self.bins["worker"]), "--task", task, "--concurrency", str(concurrency),
                                         "--heartbeat", "1s"])

    def py_worker(self, *args: str, stdout_pipe: bool = False) -> Proc:
        return self.spawn("py-worker", [sys.executable, str(SDK / "tests" / "pyworker.py"), *args],
                           stdout_pipe=stdout_pipe)

    def go_client(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bins["client"]), *args], env={**os.environ, **self.env}, cwd=REPO,
                              capture_output=True, text=True, timeout=DEADLINE)

    def close(self) -> None:
        for p in reversed(self.procs):
            p.kill()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log.name})\n{p.output()[-3000:]}" for p in self.procs)
