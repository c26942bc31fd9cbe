"""Fixtures for the grader's self-tests: grade a folder against the session's live services."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from grader import isolation
from grader.cli import external_env, grade
from grader.labs import LABS
from grader.results import Report
from influx_labs.pytest_plugin import live_required
from influx_labs.services import Stack

# Tests of contained grading need bubblewrap; where live tests are required, its lack fails.
needs_sandbox = pytest.mark.skipif(
    bool(isolation.unavailable()) and not live_required(),
    reason=f"no sandbox on this machine: {isolation.unavailable()}",
)


@pytest.fixture(scope="session")
def grade_folder(lab_stack: Stack) -> Callable[..., Report]:
    """grade_folder(lab, path, *pytest_args) -> Report, on the session's servers (with
    the extra InfluxDB servers the lab needs, started the first time one asks)."""

    def run(lab: str, path: Path, *args: str) -> Report:
        for name in LABS[lab].servers:
            lab_stack.influx_server(name)
        env = external_env(lab_stack.endpoints)
        report, output = grade(lab, path, "external", env=env, extra_args=list(args))
        assert report.checks, f"the grading run produced no results:\n{output[-3000:]}"
        return report

    return run


def points(report: Report) -> dict[str, float]:
    return {c.check: c.points for c in report.checks}


def patched(source: str, patches: list[tuple[str, str]]) -> str:
    """The source with each (old, new) applied; each old text must occur exactly once."""
    for old, new in patches:
        assert source.count(old) == 1, f"patch text occurs {source.count(old)} times: {old!r}"
        source = source.replace(old, new)
    return source


def patched_notebook(text: str, patches: list[tuple[str, str]]) -> str:
    """A notebook with each (old, new) applied to its cells' sources, as one text: each old
    text must occur exactly once in the whole notebook."""
    notebook = json.loads(text)
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    changed = patched(CELL_BREAK.join(sources), patches).split(CELL_BREAK)
    for cell, source in zip(notebook["cells"], changed, strict=True):
        cell["source"] = source
    return json.dumps(notebook, indent=1)


CELL_BREAK = "\n# -- the next cell --\n"


def survivors(marker: str) -> list[psutil.Process]:
    """Processes on the host whose command line carries ``marker``."""
    return [
        p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])
    ]


def lab_points(lab: str) -> float:
    """A lab's full marks: the sum of its checks' ``points`` marks."""
    module = importlib.import_module(f"grader.checks.{lab}")
    return float(
        sum(
            mark.args[0]
            for name, check in vars(module).items()
            if name.startswith("test_")
            for mark in getattr(check, "pytestmark", [])
            if mark.name == "points"
        )
    )
