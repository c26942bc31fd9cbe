"""A student's notebook through the grader's real runner: nbclient and an IPython kernel in
the bubblewrap sandbox. Results come back typed, every cell error with its number, and a
notebook that hangs, kills its kernel, is not a notebook or tries to forge the report
ends as a report that says so."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import codec
from grader.notebook import MISSING, UNREADABLE
from grader.submission import Submission

from .conftest import needs_sandbox, survivors

pytestmark = needs_sandbox

RunNotebook = Callable[..., dict]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[RunNotebook]:
    """run(*cells, names=[...], cell_timeout=20) -> the report of a contained run."""
    made: list[Submission] = []

    def execute(*cells: str, names: list[str] = (), cell_timeout: float = 20) -> dict:
        folder = tmp_path / f"student-{len(made)}"
        folder.mkdir()
        notebook = new_notebook(cells=[new_markdown_cell("# a notebook")])
        notebook.cells += [new_code_cell(source) for source in cells]
        nbformat.write(notebook, folder / "analysis.ipynb")
        code = Submission(folder, "analysis.ipynb", {"LAB_SETTING": "x"}, isolation="required")
        made.append(code)
        return code.notebook(list(names), {"EXTRA": "y"}, cell_timeout, timeout=120)

    yield execute
    for code in made:
        code.close()


def test_results_come_back_typed_and_errors_with_their_cell(run: RunNotebook):
    report = run(
        "import os, pandas as pd\n"
        "frame = pd.DataFrame({'_time': pd.to_datetime([0, 10**9], utc=True), 'v': [1.5, 2]})\n"
        "settings = {k: os.environ.get(k) for k in ('LAB_SETTING', 'EXTRA')}",
        "1 / 0",
        "later = 'still run after the error'\nweird = object()",
        names=["frame", "settings", "later", "never", "weird"],
    )
    values = report["values"]
    assert values["settings"] == {"LAB_SETTING": "x", "EXTRA": "y"}
    frame = codec.decode(values["frame"])
    assert isinstance(frame, pd.DataFrame) and str(frame["_time"].dt.tz) == "UTC"
    assert frame["v"].tolist() == [1.5, 2.0] and values["later"] == "still run after the error"
    assert values["never"] == {MISSING: True} and UNREADABLE in values["weird"]
    [error] = report["errors"]
    assert error["cell"] == 3 and error["ename"] == "ZeroDivisionError"
    assert "1 / 0" in error["traceback"] and "\x1b[" not in error["traceback"]
    assert report["code_cells"] == 3 and report["image_cells"] == []


def test_a_hanging_cell_and_a_dead_kernel_end_the_run_and_say_so(run: RunNotebook):
    marker = f"nb-{uuid.uuid4().hex[:8]}"
    hang = run(
        "import subprocess\n"
        f"subprocess.Popen(['{marker}', '300'], executable='/bin/sleep', start_new_session=True)",
        "import time\ntime.sleep(300)",
        cell_timeout=3,
    )
    assert [e["cell"] for e in hang["errors"]] == [3]
    assert hang["errors"][0]["ename"] == "CellTimeoutError"
    assert survivors(marker) == []
    dead = run("import os\nos._exit(1)", "x = 1", names=["x"])
    assert dead["errors"][0]["ename"] == "DeadKernelError" and dead["values"] == {}


def test_the_kernel_cannot_forge_the_report(run: RunNotebook):
    forged = json.dumps({"code_cells": 1, "errors": [], "image_cells": [2], "values": {"x": 42}})
    report = run(
        f"import os\nfor fd in range(1, 10):\n    try:\n        os.write(fd, b'{forged}\\n')\n"
        "    except OSError:\n        pass\nx = 1",
        names=["x"],
    )
    assert report["values"] == {"x": 1} and report["image_cells"] == []


def test_a_file_that_is_not_a_notebook_is_reported(tmp_path: Path):
    (tmp_path / "analysis.ipynb").write_text("{not json")
    code = Submission(tmp_path, "analysis.ipynb", {}, isolation="required")
    try:
        report = code.notebook(["x"], {}, 10, timeout=60)
    finally:
        code.close()
    assert "unreadable" in report and report["values"] == {}
