"""Every runnable example of the course site runs against the live servers.

See tests/docs/examples.py for the authoring convention. A page's examples run
in document order in their own organization (bucket `labs`, seeded with the
data set in influx_labs/examples.py), with the settings in the environment names
the course uses. What an example prints (stdout and stderr, as a terminal shows
them; for a block that must fail, its traceback too) is compared with the
Output block that follows it, by tests/docs/output.py.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from influxdb_client import InfluxDBClient

from grader.sandbox import Sandbox, SandboxFactory
from influx_labs.examples import seed

from .examples import PRINTING, Example, all_examples
from .output import mismatch

NODE_DIR = Path(__file__).resolve().parent / "node"
ALL = all_examples()
EXAMPLES = [e for e in ALL if e.lang != "csharp"]
PROGRAMS = [e for e in ALL if e.lang != "flux"]
pytestmark = pytest.mark.timeout(180)


def _module() -> types.ModuleType:
    # A real module, registered, so that e.g. @dataclass can look its globals up.
    module = types.ModuleType("example")
    module.__name__ = f"example_{id(module)}"
    sys.modules[module.__name__] = module
    return module


class Failed(Exception):
    """An example failed; ``output`` is what it printed up to then."""

    def __init__(self, output: str) -> None:
        super().__init__(output)
        self.output = output


@dataclass
class PageRun:
    sandbox: Sandbox
    module: types.ModuleType = field(default_factory=_module)

    def namespace(self, example: Example) -> dict:
        """A block in a content tab runs on its own, so a reader can copy any one tab."""
        return (_module() if example.tab else self.module).__dict__


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


@contextlib.contextmanager
def _as_a_script(out: io.StringIO) -> Iterator[None]:
    """Show in ``out`` what a plain script shows on its terminal, which pytest intercepts:
    warnings and worse from a library's logging (Python's last-resort handler would
    print them, but the root logger has pytest's handlers) and a thread's uncaught
    exception (pytest's hook would hold it back)."""
    handler = logging.StreamHandler(out)
    handler.setLevel(logging.WARNING)
    logging.root.addHandler(handler)
    hook, threading.excepthook = threading.excepthook, threading.__excepthook__
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            yield
    finally:
        threading.excepthook = hook
        logging.root.removeHandler(handler)


def _python(example: Example, run: PageRun) -> str:
    out = io.StringIO()
    try:
        with _as_a_script(out):
            code = compile(example.code, example.id, "exec", dont_inherit=True)
            exec(code, run.namespace(example))
    except Exception as exc:
        raise Failed(out.getvalue() + "".join(traceback.format_exception(exc))) from exc
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
        client.query_api().query(code, org=box.org)
    return ""  # a query prints nothing (see PRINTING)


def _process(argv: list[str], example: Example, run: PageRun, cwd: Path) -> str:
    env = {**os.environ, **run.sandbox.env()}
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise Failed(result.stdout)
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
        printed = RUNNERS[example.lang](example, run)
    except Exception as exc:
        printed = exc.output if isinstance(exc, Failed) else traceback.format_exc()
        if example.mode != "expect-error":
            pytest.fail(f"{example.id} failed:\n{example.code}\n{printed[-3000:]}", pytrace=False)
    else:
        if example.mode == "expect-error":
            pytest.fail(f"{example.id} is marked expect-error but ran without an error")
    if example.output is None and example.lang in PRINTING and printed.strip():
        pytest.fail(
            f"{example.id} prints, but the page shows no Output block after it; "
            f"it printed:\n{printed[-3000:]}",
            pytrace=False,
        )
    if example.output is not None:
        diff = mismatch(example.output, printed)
        if diff:
            pytest.fail(
                f"{example.id}: its Output block is not what it printed:\n{diff}", pytrace=False
            )


_COURSE_BUCKET = re.compile(r"(?<![\w/.-])labs(?![\w/-])")


@pytest.mark.parametrize("example", PROGRAMS, ids=[e.id for e in PROGRAMS])
def test_code_takes_the_bucket_from_the_environment(example: Example):
    """Flux blocks name the course bucket `labs`; code around them reads INFLUXDB_V2_BUCKET.

    A reader who changed the bucket in .env then changes only the Flux they paste into
    the Data Explorer; every program reads the same setting the same way.
    """
    named = [line.strip() for line in example.code.splitlines() if _COURSE_BUCKET.search(line)]
    assert not named, (
        f"{example.id} names the bucket instead of reading INFLUXDB_V2_BUCKET: {named}"
    )
