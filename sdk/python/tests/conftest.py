"""Fixtures that run the real Go services (tests/services.py): the
binaries are built once per test run into a temporary directory, and every
test gets its own processes on free loopback ports."""

import sys
import tempfile
from pathlib import Path

import pytest

from services import SDK, Cluster, build

sys.path.insert(0, str(SDK))


@pytest.fixture(scope="session")
def bins():
    # Removed after the run: pytest keeps its tmp_path directories, and
    # the binaries are large.
    with tempfile.TemporaryDirectory(prefix="alpcrun-bin-") as out:
        try:
            yield build(Path(out))
        except RuntimeError as e:
            pytest.fail(str(e))


@pytest.fixture
def cluster(bins, tmp_path, request):
    c = Cluster(bins, tmp_path)
    yield c
    c.close()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(c.logs())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep


def pytest_collection_finish(session):
    # make test must not pass on a suite that silently ran nothing.
    if not session.items:
        raise pytest.UsageError("no tests collected")


def pytest_sessionfinish(session, exitstatus):
    # Nor on one that skipped a test: every test here must run.
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None and tr.stats.get("skipped") and session.exitstatus == 0:
        session.exitstatus = 1
