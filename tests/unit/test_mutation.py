"""Mutant generation for `grader mutate`, without servers: which changes are made, which are
dropped, and that every reviewed equivalent still names a mutant that is generated."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.labs import LABS
from grader.mutation import generate, load_equivalents

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


@pytest.mark.parametrize("lab", LABS)
def test_every_reviewed_equivalent_names_a_generated_mutant(lab: str):
    keys = {m.key for m in generate(LABS[lab].solution)}
    stale = [e for e in load_equivalents(lab) if (e.file, e.before, e.after) not in keys]
    assert stale == [], "entries of grader/equivalent_mutants.toml that no longer match"
    assert all(e.why.strip() for e in load_equivalents(lab))
