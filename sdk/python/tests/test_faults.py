"""Faults: every task gets exactly one answer whatever breaks, and the
tests see it when what protects a task is turned off."""

import threading

import pytest

import alpcrun
from services import DEADLINE
from test_interop import assert_once, run_all


def run_with_fault(s: alpcrun.Session, payloads, fault, after: int = 50):
    """Runs payloads through s and calls fault() once `after` results have
    arrived (0: at once); returns the results or raises what ended s."""
    out, err, some = {}, [], threading.Event()

    def go():
        try:
            out["r"] = run_all(s, payloads, on_result=lambda k: k >= after and some.set())
        except Exception as e:
            err.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    if after:
        assert some.wait(DEADLINE), f"fewer than {after} results before the fault"
    fault()
    t.join(DEADLINE)
    assert not t.is_alive(), "the session did not end after the fault"
    if err:
        raise err[0]
    return out["r"]


def tasks(n: int) -> dict[str, bytes]:
    return {f"t{i}": f"task {i}".encode() for i in range(n)}


@pytest.mark.parametrize("max_attempts", [3, 1])
def test_python_worker_killed_mid_batch(cluster, tmp_path, max_attempts):
    """A Python worker dies holding batches: the queue manager redelivers
    them to another worker and each task is answered once. With one attempt
    allowed there is no redelivery, and the killed batch's tasks end as dead
    letters instead: what the first case checks is the redelivery."""
    victim = cluster.py_worker("hang-once", str(tmp_path / "marker"), stdout_pipe=True)
    payloads = tasks(200)

    def kill():
        assert victim.read_line().strip() == "STARTED"
        victim.kill()
        cluster.py_worker("echo")

    with alpcrun.Client(cluster.qm_addr) as c, c.session("pytest", max_attempts=max_attempts) as s:
        results = run_with_fault(s, payloads.values(), kill, after=0)
        dead = s.dead_letters()
    if max_attempts == 1:
        assert dead, "the killed batch was not redelivered, so it must be dead-lettered"
        assert all("attempts" in d.error for d in dead)
        assert_once(results, {k: v for k, v in payloads.items() if k not in {d.id for d in dead}})
        return
    assert dead == []
    assert_once(results, payloads)
    assert max(r.attempts for r in results) >= 2, "the killed batch ran again"


@pytest.mark.parametrize("workers,resubmit", [("go", True), ("py", True), ("go", False)])
def test_queue_manager_restarted_mid_run(cluster, workers, resubmit):
    """The queue manager restarts and forgets everything: the workers
    register again, the Python client creates the session anew and
    resubmits what has no answer, and every task is answered once. Without
    resubmission the session ends with tasks unanswered."""
    if workers == "go":
        cluster.go_worker("sleep:5ms", concurrency=4)
    else:
        cluster.py_worker("echo")
    payloads = tasks(600)

    def restart():
        cluster.kill_qm()
        cluster.start_qm()

    # Without resubmission the lost tasks would hold the window forever: a
    # window as large as the run lets the session end and say what it lost.
    window = 300 if resubmit else len(payloads)
    with alpcrun.Client(cluster.qm_addr) as c, c.session("pytest", resubmit=resubmit, max_inflight=window) as s:
        if not resubmit:
            with pytest.raises(alpcrun.Incomplete):
                run_with_fault(s, payloads.values(), restart)
            assert s.recreated >= 1
            return
        results = run_with_fault(s, payloads.values(), restart)
    assert s.recreated >= 1 and s.resubmitted > 0
    assert_once(results, payloads)


def test_client_connection_cut_mid_run(cluster):
    """The client's connection to the queue manager breaks and comes back:
    the session reopens its stream on the same session, resubmits what has
    no answer (the queue manager drops what it still holds), and every task
    is answered once."""
    proxy = cluster.fault_proxy()
    cluster.go_worker("sleep:5ms", concurrency=4)
    payloads = tasks(600)

    def cut():
        proxy.cut()
        proxy.restore()

    with alpcrun.Client(proxy.addr) as c, c.session("pytest", max_inflight=300) as s:
        results = run_with_fault(s, payloads.values(), cut)
    assert s.resubmitted > 0 and s.recreated == 0
    assert_once(results, payloads)


def test_python_worker_drains_on_sigterm(cluster):
    """SIGTERM makes a Python worker answer the batches it holds and exit 0.
    The client's 100 tasks go out in a few batches, all held by the worker
    before the signal, so every task is answered at its first attempt: none
    was requeued by a worker that dropped it."""
    w = cluster.py_worker("sleep")
    payloads = tasks(100)

    def sigterm():
        assert w.stop() == 0, w.output()
        cluster.py_worker("echo")

    with alpcrun.Client(cluster.qm_addr) as c, c.session("pytest") as s:
        results = run_with_fault(s, payloads.values(), sigterm, after=10)
    assert_once(results, payloads)
    assert all(r.attempts == 1 for r in results)
