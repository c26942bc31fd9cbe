"""Mutant generation for `grader mutate`, without servers: which changes are made, which are
dropped, and that every reviewed equivalent still names a mutant that is generated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.labs import LABS
from grader.mutation import generate, load_equivalents, write

SOURCE = '''"""A module. Write with precision "ms" and qos=1 here: a docstring, never mutated."""

from __future__ import annotations

from datetime import UTC, datetime


def stamp(value: int | None) -> str:
    """Also "ms" here."""
    when = datetime.now(UTC)  # "ms" in a comment is left alone too
    if value is None:
        raise ValueError("no value")
    return f"{when.isoformat()} {float(value)} ms"


def send(client) -> None:
    client.subscribe("a/+/telemetry", qos=1)
    client.write(precision="ms")
    client.close()
'''


@pytest.fixture
def mutants(tmp_path: Path):
    (tmp_path / "mod.py").write_text(SOURCE)
    return generate(tmp_path)


def test_field_operators_change_code_never_docstrings_or_comments(mutants):
    changes = {(m.operator, m.after) for m in mutants}
    now = 'when = datetime.now()  # "ms" in a comment is left alone too'
    assert ("time-zone", now) in changes
    assert ("qos", 'client.subscribe("a/+/telemetry", qos=0)') in changes
    assert ("topic-filter", 'client.subscribe("a/#", qos=1)') in changes
    assert ("precision", 'client.write(precision="s")') in changes
    assert ("close-flush", "pass") in changes
    assert ("error-returned", 'return ValueError("no value")') in changes
    assert ("field-type", 'return f"{when.isoformat()} {int(value)} ms"') in changes
    assert all(m.line not in (1, 9) for m in mutants)  # the docstrings


def test_mutants_that_change_nothing_or_do_not_compile_are_dropped(mutants):
    # `int | None` in an annotation is never evaluated here: replacing | changes nothing.
    assert not [m for m in mutants if m.line == 8]
    assert len({m.code for m in mutants}) == len(mutants)
    for m in mutants:
        compile(m.code, m.file, "exec")


def test_generation_is_repeatable(tmp_path: Path, mutants):
    again = generate(tmp_path)
    assert [(m.id, m.key) for m in again] == [(m.id, m.key) for m in mutants]


def test_a_notebook_is_mutated_cell_by_cell_and_stays_a_notebook(tmp_path: Path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell(
            "Write with precision `ms` and `qos=1`: prose, never mutated."
        ),
        nbformat.v4.new_code_cell("%matplotlib inline\nlimit = 3"),  # IPython syntax
        nbformat.v4.new_code_cell("total = 1\nif total > 0:\n    total = total + 2"),
    ]
    (tmp_path / "analysis.ipynb").write_text(nbformat.writes(notebook))
    mutants = generate(tmp_path)
    assert mutants, "the code cell gave no mutant"
    assert {m.cell for m in mutants} == {3}  # numbered among all cells, magics left alone
    assert "analysis.ipynb:cell 3:3" in {m.where for m in mutants}
    mutant = next(m for m in mutants if m.after == "total = total - 2")
    copy = write(tmp_path, mutant, tmp_path / "out") / "analysis.ipynb"
    cells = nbformat.reads(copy.read_text(), as_version=4).cells
    assert [c.source for c in cells[:2]] == [c.source for c in notebook.cells[:2]]
    assert cells[2].source == "total = 1\nif total > 0:\n    total = total - 2"
    assert json.loads(copy.read_text())["nbformat"] == 4


@pytest.mark.skipif(not shutil.which("node"), reason="Node.js is not installed")
def test_a_javascript_module_gets_strykers_mutants(tmp_path: Path):
    (tmp_path / "client.mjs").write_text(
        'export function late(seconds) {\n  if (seconds > 60) return "late";\n  return "ok";\n}\n'
    )
    mutants = generate(tmp_path)
    changes = {(m.operator, m.line, m.after) for m in mutants}
    assert ("EqualityOperator", 2, 'if (seconds >= 60) return "late";') in changes
    assert ("StringLiteral", 3, 'return "";') in changes
    original = (tmp_path / "client.mjs").read_text()
    assert len({m.code for m in mutants} | {original}) == len(mutants) + 1


def test_a_lab_whose_solution_is_data_is_refused_with_the_reason():
    result = CliRunner().invoke(app, ["mutate", "grafana_dashboard", "--list"])
    assert result.exit_code == 2
    assert "dashboard model" in result.output and "variants_grafana_dashboard" in result.output


@pytest.mark.parametrize("lab", LABS)
def test_every_reviewed_equivalent_names_a_generated_mutant(lab: str):
    keys = {m.key for m in generate(LABS[lab].solution)}
    stale = [e for e in load_equivalents(lab) if e.key not in keys]
    assert stale == [], "entries of grader/equivalent_mutants.toml that no longer match"
    assert all(e.why.strip() for e in load_equivalents(lab))
