"""The Python SDK against the real Go services."""

import os
import re
import threading

import pytest

import alpcrun
import alpcrun.worker
from services import DEADLINE


def run_all(s: alpcrun.Session, payloads, timeout=DEADLINE, on_result=None):
    """Submits payloads and collects every result, failing after timeout."""
    got, err = [], []

    def go():
        try:
            for r in s.map(payloads):
                got.append(r)
                if on_result:
                    on_result(len(got))
        except Exception as e:
            err.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"session did not finish within {timeout}s ({len(got)} results)"
    if err:
        raise err[0]
    return got


def assert_once(results, expected: dict):
    ids = [r.id for r in results]
    assert len(ids) == len(set(ids)), "a result was delivered twice"
    assert {r.id: r.payload for r in results} == expected


def test_python_client_go_workers(cluster):
    cluster.go_worker()
    cluster.go_worker()
    n = 500
    with alpcrun.Client(cluster.qm_addr) as c, c.session("pytest") as s:
        results = run_all(s, (f"task {i}".encode() for i in range(n)))
        assert s.pending == 0
        assert s.dead_letters() == []
    assert_once(results, {f"t{i}": f"task {i}".encode() for i in range(n)})


def test_go_client_python_workers(cluster):
    cluster.py_worker("echo")
    cluster.py_worker("echo")
    n = 300
    out = cluster.go_client("--task", "echo", "--tasks", str(n))
    assert out.returncode == 0, out.stderr
    # examples/client names the task kind in a header line of every payload
    # (services/catalog); a Python echo worker returns it with the input.
    lines = re.findall(r"^task (\d+): (?:alpcrun-task echo\n)?task (\d+) \(attempts \d+\)$", out.stdout, re.M)
    assert sorted(int(a) for a, _ in lines) == list(range(n)), "every result exactly once"
    assert all(a == b for a, b in lines)
    assert f"{n} results, 0 failed" in out.stdout


def test_shared_data_and_dead_letters(cluster):
    cluster.start_caches()
    cluster.py_worker("shared")
    with alpcrun.Client(cluster.qm_addr) as c, alpcrun.SharedData(cluster.central_addr) as sd, \
            c.session("pytest", shared_data_level=1) as s:
        sd.set(s.id, 1, b"S1")
        first = [s.submit(p) for p in (b"a", b"fail", b"b")]
        # Results of the first level before the second is published: a
        # node cache keeps each level it fetched.
        got = {}
        for r in s.results():
            got[r.id] = r.payload
            if len(got) == 2:
                break
        level = sd.update(s.id, b"S2")
        assert level == 2
        s.set_shared_data_level(level)
        second = s.submit(b"c")
        s.close_send()
        for r in s.results():
            got[r.id] = r.payload
        dead = s.dead_letters()
    assert got == {first[0]: b"S1|a", first[2]: b"S1|b", second: b"S2|c"}
    assert [(d.id, d.payload) for d in dead] == [(first[1], b"fail")]
    assert "ValueError: bad task" in dead[0].error


def test_batches(cluster):
    """submit() batches hold at most max_batch_size tasks; a submit_batch
    batch reaches the worker as it was made. The worker answers with the
    batch id it got each task in."""
    import collections

    cluster.py_worker("batchid")
    with alpcrun.Client(cluster.qm_addr) as c, c.session("pytest", max_batch_size=7) as s:
        s.submit_many([b"x"] * 50)
        s.submit_batch({f"b{i}": b"y" for i in range(20)})
        s.close_send()
        results = list(s.results())
    by_batch = collections.Counter(r.payload for r in results if r.id.startswith("t"))
    assert sum(by_batch.values()) == 50 and max(by_batch.values()) <= 7
    made = {r.payload for r in results if r.id.startswith("b")}
    assert len(made) == 1 and len(results) == 70
    assert not made & set(by_batch)


def test_failures_free_the_window(cluster):
    """Failed tasks hold their place in the max_inflight window until their
    dead letters are read: the session reads them while it runs, so a run
    of failures three times the window still completes."""
    cluster.py_worker("fail")
    with alpcrun.Client(cluster.qm_addr) as c, c.session("pytest", max_inflight=10) as s:
        assert run_all(s, [b"x"] * 30) == []
        dead = s.dead_letters()
    assert sorted(d.id for d in dead) == sorted(f"t{i}" for i in range(30))
    assert all(d.payload == b"x" and "ValueError" in d.error for d in dead)


def test_process_pool_numpy(cluster):
    import numpy as np

    cluster.py_worker("numpy")
    arrays = [np.arange(i, i + 10, dtype=np.float64) for i in range(40)]
    with alpcrun.Client(cluster.qm_addr) as c, c.session("pytest", codec=alpcrun.Pickle()) as s:
        results = run_all(s, arrays)
    assert_once(results, {f"t{i}": float(a.sum()) for i, a in enumerate(arrays)})


def test_asyncio(cluster):
    import asyncio

    cluster.go_worker()

    async def main():
        with alpcrun.Client(cluster.qm_addr) as c, c.session("pytest", max_inflight=20) as s:
            for i in range(100):
                await s.asubmit(str(i).encode(), id=str(i))
            s.close_send()
            return {r.id: r.payload async for r in s.aresults()}

    got = asyncio.run(asyncio.wait_for(main(), DEADLINE))
    assert got == {str(i): str(i).encode() for i in range(100)}


def test_session_errors(cluster):
    with alpcrun.Client(cluster.qm_addr) as c:
        with pytest.raises(TypeError, match="colour"):
            c.session("pytest", colour="red")
        with pytest.raises(alpcrun.InvalidArgument):
            c.session("pytest", priority=11)
        with c.session("pytest") as s:
            s.submit(b"x", id="a")
            with pytest.raises(alpcrun.InvalidArgument):
                s.submit(b"y", id="a")
            s.close_send()
            with pytest.raises(alpcrun.Closed):
                s.submit(b"z")


def test_api_key(cluster, monkeypatch):
    """The SDK sends $METALCORE_API_KEY as metadata api_key, client and
    worker alike; a wrong key is refused with a clear error."""
    cluster.kill_qm()
    cluster.start_qm(env={"METALCORE_API_KEY": "right"})
    monkeypatch.setenv("METALCORE_API_KEY", "wrong")
    with alpcrun.Client(cluster.qm_addr) as c:
        with pytest.raises((alpcrun.PermissionDenied, alpcrun.Unauthenticated)):
            c.session("pytest")
    w = alpcrun.worker.Worker(lambda t: t.payload, address=cluster.qm_addr)
    with pytest.raises((alpcrun.PermissionDenied, alpcrun.Unauthenticated)):
        w.run()
    monkeypatch.setenv("METALCORE_API_KEY", "right")
    cluster.env["METALCORE_API_KEY"] = "right"
    cluster.py_worker("echo")
    with alpcrun.Client(cluster.qm_addr) as c, c.session("pytest") as s:
        assert_once(run_all(s, [b"a", b"b"]), {"t0": b"a", "t1": b"b"})


def test_option_example(cluster):
    """The README's example runs: numpy workers in processes, the option's
    terms as shared data, a price within a few standard errors of
    Black-Scholes (the seeds are fixed, so the run is the same every time)."""
    import subprocess
    import sys

    from services import SDK

    cluster.start_caches()
    example = str(SDK / "examples" / "option.py")
    cluster.spawn("option-worker", [sys.executable, example, "worker", "--processes", "2"])
    out = subprocess.run([sys.executable, example, "client", "--tasks", "20", "--paths", "20000"],
                         env={**os.environ, **cluster.env}, capture_output=True, text=True, timeout=DEADLINE)
    assert out.returncode == 0, out.stderr
    assert "20 tasks, 400,000 paths" in out.stdout and ", 0 failed" in out.stdout, out.stdout
    sigmas = float(re.search(r"\(([-+]\d+\.\d) σ\)", out.stdout).group(1))
    assert abs(sigmas) < 4, out.stdout
