"""Runs inside a submission's sandbox: a student's Jupyter notebook, executed headless.

    python -P -s -m grader.runner notebook SOURCE WORKDIR NOTEBOOK NAMES_JSON CELL_TIMEOUT

nbclient executes every code cell top to bottom in a fresh IPython kernel (ipykernel,
the same interpreter), as "Restart and run all" would, and goes on after a cell that
raises, so one broken cell costs only what depends on it. Then one more cell of the
grader's reads the named results from the kernel, encoded as grader/codec.py does.

The report is one JSON line on a descriptor of this process's own (the kernel gets
/dev/null as its stdout, and cannot reach this process's descriptors): the code cells
run, every error with its cell number and traceback, the cells that showed an image,
and the named values, each encoded or the reason it could not be.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MISSING = "$missing"  # a named result the notebook never set
UNREADABLE = "$unreadable"  # a named result the grader cannot encode
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")

# Runs in the student's kernel after their cells: the results as one printed JSON text.
READ_RESULTS = """\
import json as _grader_json, sys as _grader_sys
_grader_sys.path.insert(0, {runner!r})
from grader import codec as _grader_codec
def _grader_read(name):
    if name not in globals():
        return {{{missing!r}: True}}
    try:
        return _grader_codec.encode(globals()[name])
    except Exception as exc:
        return {{{unreadable!r}: f"{{type(exc).__name__}}: {{exc}}"[:500]}}
print(_grader_json.dumps({{name: _grader_read(name) for name in {names!r}}}))
"""


def _error(number: int, cell: Any) -> dict[str, Any] | None:
    """The error a cell raised (its number counts every cell, from 1), if it did."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            trace = "\n".join(ANSI.sub("", line) for line in output.get("traceback", []))
            return {
                "cell": number,
                "source": str(cell.get("source", ""))[:2000],
                "ename": str(output.get("ename", "")),
                "evalue": str(output.get("evalue", ""))[:2000],
                "traceback": trace[-3000:],
            }
    return None


def execute(path: Path, names: list[str], cell_timeout: float) -> dict[str, Any]:
    """Run every code cell, then read ``names``: the report as data."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    report: dict[str, Any] = {"code_cells": 0, "errors": [], "image_cells": [], "values": {}}
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as exc:  # not JSON, not a notebook: the student's file
        report["unreadable"] = f"{type(exc).__name__}: {exc}"[:1000]
        return report
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    runner = str(Path(__file__).resolve().parent.parent)
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            report["code_cells"] += 1
            try:
                client.execute_cell(cell, index)
            except (CellTimeoutError, DeadKernelError) as exc:
                report["errors"].append(
                    {
                        "cell": index + 1,
                        "source": str(cell.source)[:2000],
                        "ename": type(exc).__name__,
                        "evalue": str(exc)[:500],
                        "traceback": "",
                    }
                )
                return report  # no kernel left to ask: the results are not there
            error = _error(index + 1, cell)
            if error:
                report["errors"].append(error)
            if any(
                kind in output.get("data", {})
                for output in cell.get("outputs", [])
                for kind in IMAGE_TYPES
            ):
                report["image_cells"].append(index + 1)
        reader = nbformat.v4.new_code_cell(
            READ_RESULTS.format(runner=runner, names=names, missing=MISSING, unreadable=UNREADABLE)
        )
        notebook.cells.append(reader)  # nbclient keeps each executed cell in its notebook
        client.execute_cell(reader, len(notebook.cells) - 1)
    printed = "".join(
        output.get("text", "")
        for output in reader.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    )
    lines = printed.strip().splitlines()
    report["values"] = json.loads(lines[-1]) if lines else {}
    return report


def main(workdir: Path, notebook: str, names: list[str], cell_timeout: float) -> None:
    """Execute the notebook and write the report where only this process can."""
    report_fd = os.dup(1)  # not inherited by the kernel: os.dup makes it non-inheritable
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    try:
        report = execute(workdir / notebook, names, cell_timeout)
    except Exception as exc:  # e.g. the kernel would not start: say so, as data
        report = {"failed": f"{type(exc).__name__}: {exc}"[:2000]}
    with os.fdopen(report_fd, "w") as out:
        out.write(json.dumps(report) + "\n")
    sys.stdout.flush()
