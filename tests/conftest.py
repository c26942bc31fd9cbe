"""Shared test fixtures; the live-service fixtures come from influx_labs.pytest_plugin."""

from __future__ import annotations

import os
import tempfile

import pytest

from influx_labs.pytest_plugin import live_required
from influx_labs.services.binaries import native_available

# `grader check` keeps each lab's last grade for `grader progress`: the tests' gradings
# go to a folder of their own, never to the student's.
os.environ.setdefault("INFLUX_LABS_GRADES", tempfile.mkdtemp(prefix="influx-labs-grades-"))


@pytest.fixture
def native_binaries() -> None:
    """Skip (or, where live tests are required, fail) unless influxd and mosquitto exist."""
    if native_available():
        return
    reason = "influxd/mosquitto not installed (run scripts/build-native.sh, apt install mosquitto)"
    if live_required():
        pytest.fail(reason)
    pytest.skip(reason)


def xdist_scope(nodeid: str) -> str:
    """Which tests pytest-xdist must run on one worker, in order (``./course test`` runs
    two): the Docker tests share the engine and count its objects, a site page's
    examples share one namespace, the site tests one build. Any other test is its own
    scope, sent to whichever worker is free."""
    path, _, name = nodeid.partition("::")
    if path.startswith("tests/docker/"):
        return "docker"
    if path == "tests/docs/test_examples.py":
        return f"examples:{name.partition('[')[2].partition(':')[0]}"  # [page:line:lang]
    if path == "tests/docs/test_site.py":
        return path
    return nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # -> xdist Scheduling
    """``--dist load`` (the default of ``-n``), with the scopes of ``xdist_scope``: a
    scheduler, not ``xdist_group`` marks, as pytest 9.2's node ids no longer take the
    ``@group`` suffix that ``--dist loadgroup`` adds to them."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByScope(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return ByScope(config, log)
