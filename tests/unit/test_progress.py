"""`grader progress`: the last grade of each lab, as `grader check` keeps it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader import progress
from grader.cli import app
from grader.labs import LABS
from grader.results import CheckResult, Outcome, Report


def _report(lab: str, *points: tuple[float, float], infra: bool = False) -> Report:
    checks = [
        CheckResult(f"test_{i}", f"check {i}", maximum, got, Outcome.PASSED)
        for i, (got, maximum) in enumerate(points)
    ]
    if infra:
        checks[-1].infra_error("influxd did not answer")
    return Report(lab, f"/somewhere/{lab}", "native", checks, "contained")


@pytest.fixture
def grades(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("INFLUX_LABS_GRADES", str(tmp_path))
    return tmp_path


def test_every_lab_has_a_row_in_the_courses_order(grades: Path):
    progress.save(_report("tasks", (3, 3), (2, 2)))
    progress.save(_report("http_api", (1, 4), (2, 2)))
    rows = progress.load()
    assert [r.lab for r in rows] == list(LABS)
    by_lab = {r.lab: r for r in rows}
    assert by_lab["tasks"].status == "full marks"
    assert by_lab["http_api"].status == "1 check(s) losing points"
    assert by_lab["http_api"].report.score == 3 and by_lab["http_api"].report.max_score == 6
    assert by_lab["notebook"].status == "not graded yet" and by_lab["notebook"].report is None


def test_a_grade_again_replaces_the_last_one(grades: Path):
    progress.save(_report("tasks", (0, 3)))
    progress.save(_report("tasks", (3, 3)))
    row = next(r for r in progress.load() if r.lab == "tasks")
    assert row.report.full_marks and row.graded_at is not None


def test_infrastructure_errors_and_broken_files_are_said_not_counted(grades: Path):
    progress.save(_report("monitoring", (2, 2), (0, 3), infra=True))
    (grades / "tasks.json").write_text("{not json")
    by_lab = {r.lab: r for r in progress.load()}
    assert by_lab["monitoring"].status == "1 check(s) to grade again (services down)"
    assert by_lab["tasks"].status.startswith("unreadable grade: tasks.json")
    assert by_lab["tasks"].report is None


def test_the_command_shows_and_exports_the_rows(grades: Path):
    progress.save(_report("python_client", (5, 5)))
    shown = CliRunner().invoke(app, ["progress"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "1 of 12 labs at full marks" in shown.output.replace("\n", " ")
    exported = CliRunner().invoke(app, ["progress", "--json"])
    rows = {r["lab"]: r for r in json.loads(exported.output)}
    assert rows["python_client"]["score"] == 5 and rows["python_client"]["status"] == "full marks"
    assert rows["tasks"]["graded_at"] is None
