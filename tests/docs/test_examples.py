"""Every runnable example of the course site runs against the live servers.

See tests/docs/examples.py for the authoring convention. A page's examples run
in document order in their own organization (bucket `labs`, seeded with the
data set in influx_labs/examples.py), with the settings in the environment names
the course uses.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from influxdb_client import InfluxDBClient

from grader.sandbox import Sandbox, SandboxFactory
from influx_labs.examples import seed

from .examples import Example, all_examples

NODE_DIR = Path(__file__).resolve().parent / "node"
EXAMPLES = [e for e in all_examples() if e.lang != "csharp"]
pytestmark = pytest.mark.timeout(180)


@dataclass
class PageRun:
    sandbox: Sandbox
    module: types.ModuleType = field(default_factory=lambda: types.ModuleType("example"))

    def __post_init__(self) -> None:
        # A real module, registered, so that e.g. @dataclass can look its globals up.
        self.module.__name__ = f"example_{id(self)}"
        sys.modules[self.module.__name__] = self.module


@pytest.fixture(scope="session")
def pages(endpoints, influx_client) -> Iterator[dict[str, PageRun]]:
    factory = SandboxFactory(endpoints)
    runs: dict[str, PageRun] = {}

    class Runs(dict):
        def __missing__(self, page: str) -> PageRun:
            box = factory.create(bucket="labs")
            seed(influx_client, box.org_id, box.bucket)
            runs[page] = self[page] = PageRun(box)
            return self[page]

    yield Runs()
    for run in runs.values():
        factory.remove(run.sandbox)


def _python(example: Example, run: PageRun) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example.code, example.id, "exec", dont_inherit=True), run.module.__dict__)
    return out.getvalue()


def _flux(example: Example, run: PageRun) -> str:
    box = run.sandbox
    code = example.code
    if "v." in code:  # the variables a dashboard or the Data Explorer would supply
        lines = code.splitlines()
        after_imports = max(
            (i + 1 for i, line in enumerate(lines) if line.startswith("import ")), default=0
        )
        lines.insert(
            after_imports,
            "option v = {timeRangeStart: -2h, timeRangeStop: now(), windowPeriod: 5m, "
            f'defaultBucket: "{box.bucket}"}}',
        )
        code = "\n".join(lines)
    with InfluxDBClient(url=box.url, token=box.token, org=box.org, timeout=30_000) as client:
        tables = client.query_api().query(code, org=box.org)
    return f"{sum(len(t.records) for t in tables)} records"


def _process(argv: list[str], example: Example, run: PageRun, cwd: Path) -> str:
    env = {**os.environ, **run.sandbox.env()}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(
            f"exit status {result.returncode}\nstdout: {result.stdout[-2000:]}\n"
            f"stderr: {result.stderr[-2000:]}"
        )
    return result.stdout


def _bash(example: Example, run: PageRun) -> str:
    with tempfile.TemporaryDirectory(prefix="example-") as scratch:
        return _process(
            ["bash", "-euo", "pipefail", "-c", example.code], example, run, Path(scratch)
        )


def _javascript(example: Example, run: PageRun) -> str:
    script = NODE_DIR / f".example-{os.getpid()}-{example.line}.mjs"
    script.write_text(example.code)
    try:
        return _process(["node", str(script)], example, run, NODE_DIR)
    finally:
        script.unlink(missing_ok=True)


RUNNERS = {"python": _python, "flux": _flux, "bash": _bash, "javascript": _javascript}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example(example: Example, pages, monkeypatch):
    if example.mode == "skip":
        assert example.reason, f"{example.id}: a skipped example must say why"
        pytest.skip(f"not executed: {example.reason}")
    run = pages[example.page]
    for key, value in run.sandbox.env().items():
        monkeypatch.setenv(key, value)
    try:
        RUNNERS[example.lang](example, run)
    except Exception as exc:
        if example.mode == "expect-error":
            return
        detail = "".join(traceback.format_exception_only(exc)).strip()
        pytest.fail(f"{example.id} failed:\n{example.code}\n{detail}", pytrace=False)
    if example.mode == "expect-error":
        pytest.fail(f"{example.id} is marked expect-error but ran without an error")
