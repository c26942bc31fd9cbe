"""grader.classroom without servers: layouts, fingerprints and reuse, and the class outputs
(gradebook CSV, reports, JUnit XML, summary) from hand-made reports."""

from __future__ import annotations

import csv
import io
import json
import os
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from grader import classroom
from grader.classroom import Entry, Task
from grader.labs import LABS
from grader.results import CheckResult, Outcome, Report

HTTP, CLIENT = LABS["http_api"], LABS["python_client"]


def check(name: str, points: float, max_points: float = 4, feedback: str = "") -> CheckResult:
    outcome = (
        Outcome.PASSED
        if points == max_points
        else Outcome.FAILED
        if points == 0
        else Outcome.PARTIAL
    )
    return CheckResult(name, f"title of {name}", max_points, points, outcome, feedback)


def infra(name: str, max_points: float = 4) -> CheckResult:
    return CheckResult(name, name, max_points, 0, Outcome.INFRA_ERROR, "InfluxDB went away")


def entry(student: str, lab: str, *checks: CheckResult, **kwargs) -> Entry:
    task = Task(student, lab, Path("/subs", student, lab))
    return Entry(task, Report(lab, str(task.folder), "native", list(checks)), **kwargs)


def missing(student: str, lab: str) -> Entry:
    return classroom.missing_entry(Task(student, lab, None))


def _rows(text: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = {row["student"]: row for row in reader}
    return list(reader.fieldnames or []), rows


# -- layouts -------------------------------------------------------------------------


def _folders(root: Path, *paths: str) -> None:
    for path in paths:
        (root / path).mkdir(parents=True)
        (root / path / "file.py").write_text(path)


def test_one_lab_layout_has_a_student_per_folder_skipping_tool_folders(tmp_path: Path):
    _folders(tmp_path, "bob", "ada", ".git", "__MACOSX")
    (tmp_path / "notes.txt").write_text("not a student")
    tasks = classroom.discover(tmp_path, "http_api")
    assert tasks == [
        Task("ada", "http_api", tmp_path / "ada"),
        Task("bob", "http_api", tmp_path / "bob"),
    ]


def test_nested_layout_grades_every_lab_anyone_has_and_marks_the_missing(tmp_path: Path):
    _folders(
        tmp_path,
        "ada/http_api",
        "ada/python_client",
        "bob/http_api",
        "bob/old-attempt",  # names no lab: left alone
        "bob/.git",
        "cy/python-client",  # the lab's name with a dash still counts
        "__MACOSX/http_api",
    )
    tasks = classroom.discover(tmp_path)
    assert [(t.student, t.lab, t.folder) for t in tasks] == [
        ("ada", "http_api", tmp_path / "ada/http_api"),
        ("ada", "python_client", tmp_path / "ada/python_client"),
        ("bob", "http_api", tmp_path / "bob/http_api"),
        ("bob", "python_client", None),
        ("cy", "http_api", None),
        ("cy", "python_client", tmp_path / "cy/python-client"),
    ]


def test_nested_layout_without_lab_folders_finds_nothing(tmp_path: Path):
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "http_api.py").write_text("")  # the one-lab layout, given as nested
    assert classroom.discover(tmp_path) == []
    assert classroom.discover(tmp_path / "ada") == []


# -- fingerprints and reuse ----------------------------------------------------------


def test_fingerprint_follows_the_submission_files_and_nothing_else(tmp_path: Path):
    folder = tmp_path / "ada"
    folder.mkdir()
    (folder / "http_api.py").write_text("x = 1\n")
    first = classroom.fingerprint(folder, HTTP)
    assert first.startswith("sha256:") and first == classroom.fingerprint(folder, HTTP)

    for noise in (".git/HEAD", "__pycache__/http_api.cpython-311.pyc", ".DS_Store"):
        (folder / noise).parent.mkdir(exist_ok=True)
        (folder / noise).write_text("noise")
    assert classroom.fingerprint(folder, HTTP) == first

    assert classroom.fingerprint(folder, CLIENT) != first  # another lab, other checks
    assert classroom.fingerprint(folder, HTTP, "call-timeout=5") != first
    assert classroom.fingerprint(None, HTTP) != classroom.fingerprint(tmp_path / "empty", HTTP)

    (folder / "http_api.py").write_text("x = 2\n")
    changed = classroom.fingerprint(folder, HTTP)
    assert changed != first
    (folder / "http_api.py").rename(folder / "helper.py")
    assert classroom.fingerprint(folder, HTTP) != changed  # same content, another name
    (folder / "__init__.py").write_text("")  # dunder files are part of the submission
    assert classroom.fingerprint(folder, HTTP) not in (first, changed)


def test_fingerprint_follows_the_grader_and_the_lab_entry_not_the_other_labs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    copy = tmp_path / "grader"
    copy.mkdir()
    for path in classroom.GRADER_DIR.glob("*.py"):
        (copy / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(classroom, "GRADER_DIR", copy)
    digest = classroom.grader_digest  # computed once per process: cleared after each edit
    digest.cache_clear()
    first = classroom.fingerprint(None, HTTP)

    with (copy / "labs.py").open("a") as labs:  # another lab added
        labs.write("\n# a lab more\n")
    digest.cache_clear()
    assert classroom.fingerprint(None, HTTP) == first
    assert classroom.fingerprint(None, replace(HTTP, servers=("cloud",))) != first

    with (copy / "runner.py").open("a") as runner:  # the grader's own code changed
        runner.write("\n# changed\n")
    digest.cache_clear()
    assert classroom.fingerprint(None, HTTP) != first
    monkeypatch.undo()
    digest.cache_clear()  # the real grader's again, for the tests after this one


def test_fingerprint_never_blocks_on_odd_files(tmp_path: Path):
    os.mkfifo(tmp_path / "pipe.py")  # reading it would wait forever
    (tmp_path / "link.py").symlink_to("/dev/zero")  # and this would never end
    first = classroom.fingerprint(tmp_path, HTTP)
    (tmp_path / "link.py").unlink()
    (tmp_path / "link.py").symlink_to("/dev/null")
    assert classroom.fingerprint(tmp_path, HTTP) != first  # a link counts by its target


def test_a_saved_final_report_is_reused_only_with_the_same_fingerprint(tmp_path: Path):
    graded = entry("ada", "http_api", check("test_a", 4), check("test_b", 1), fingerprint="fp1")
    classroom.save_entry(tmp_path, graded, "pytest output")
    stored = json.loads((tmp_path / "ada" / "http_api.json").read_text())
    assert stored["fingerprint"] == "fp1" and stored["score"] == 5.0 and stored["student"] == "ada"
    assert json.loads((tmp_path / "ada" / "http_api.results.json").read_text())["score"] == 5.0
    assert not (tmp_path / "ada" / "http_api.log").exists()  # only kept for a regrade

    again = classroom.reusable(tmp_path, graded.task, "fp1")
    assert again is not None and again.reused
    assert again.report.to_dict() == graded.report.to_dict()
    assert classroom.reusable(tmp_path, graded.task, "fp2") is None  # changed since
    assert classroom.reusable(tmp_path, Task("bob", "http_api", tmp_path), "fp1") is None


def test_a_report_that_needs_a_regrade_is_never_reused(tmp_path: Path):
    for flawed in (
        entry("ada", "http_api", check("test_a", 4), infra("test_b"), fingerprint="fp"),
        entry("ada", "http_api", fingerprint="fp"),  # the run produced nothing
    ):
        assert flawed.needs_regrade
        classroom.save_entry(tmp_path, flawed, "influxd died")
        assert (tmp_path / "ada" / "http_api.log").read_text() == "influxd died"
        assert classroom.reusable(tmp_path, flawed.task, "fp") is None
    fixed = entry("ada", "http_api", check("test_a", 4), check("test_b", 4), fingerprint="fp")
    classroom.save_entry(tmp_path, fixed)
    assert not (tmp_path / "ada" / "http_api.log").exists()
    assert classroom.reusable(tmp_path, fixed.task, "fp") is not None


def test_plan_grades_only_what_changed_or_was_never_graded(tmp_path: Path):
    submissions, reports = tmp_path / "submissions", tmp_path / "reports"
    _folders(submissions, "ada/http_api", "bob/http_api", "bob/python_client")
    tasks = classroom.discover(submissions)
    entries, todo = classroom.plan(tasks, reports, "call-timeout=30")
    assert set(todo) == {t for t in tasks if t.folder} and len(entries) == 1
    # The slowest lab first, so no worker idles at the end of a class.
    assert [t.lab for t in todo] == ["python_client", "http_api", "http_api"]
    (gone,) = entries.values()
    assert (gone.task.student, gone.task.lab, gone.missing) == ("ada", "python_client", True)

    for task, digest in todo.items():
        graded = Entry(task, Report(task.lab, str(task.folder), "", [check("test_a", 4)]), digest)
        classroom.save_entry(reports, graded)
    (submissions / "bob" / "python_client" / "file.py").write_text("changed")
    entries, todo = classroom.plan(tasks, reports, "call-timeout=30")
    assert [(t.student, t.lab) for t in todo] == [("bob", "python_client")]
    assert sum(e.reused for e in entries.values()) == 2
    _, todo = classroom.plan(tasks, reports, "call-timeout=5")  # other settings: all again
    assert len(todo) == 3
    _, todo = classroom.plan(tasks, reports, "call-timeout=30", fresh=True)
    assert len(todo) == 3


def test_a_damaged_stored_report_is_graded_again(tmp_path: Path):
    task = Task("ada", "http_api", tmp_path)
    (tmp_path / "ada").mkdir()
    for text in ("{", "[]", '{"lab": "http_api"}', '{"checks": [{"check": 1}]}'):
        (tmp_path / "ada" / "http_api.json").write_text(text)
        assert classroom.reusable(tmp_path, task, "fp") is None


def test_a_missing_lab_scores_zero_and_needs_no_regrade(tmp_path: Path):
    gone = missing("bob", "python_client")
    assert gone.missing and not gone.needs_regrade and gone.report.score == 0
    classroom.save_entry(tmp_path, gone)
    stored = json.loads((tmp_path / "bob" / "python_client.json").read_text())
    assert stored["missing"] and not stored["needs_regrade"] and stored["checks"] == []
    gradescope = json.loads((tmp_path / "bob" / "python_client.results.json").read_text())
    assert gradescope["score"] == 0 and "No submission" in gradescope["output"]


def test_write_atomic_replaces_the_whole_file_or_nothing(tmp_path: Path):
    path = tmp_path / "deep" / "gradebook.csv"
    classroom.write_atomic(path, "old\n")
    classroom.write_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    plain = tmp_path / "plain.csv"
    plain.write_text("")
    assert path.stat().st_mode == plain.stat().st_mode  # as open() makes it, not 0600
    with pytest.raises(TypeError):
        classroom.write_atomic(path, 42)  # type: ignore[arg-type]  # fails mid-write
    assert path.read_text() == "new\n"
    assert [p.name for p in path.parent.iterdir()] == ["gradebook.csv"]  # no temp file left


# -- gradebook -----------------------------------------------------------------------


def test_gradebook_has_a_row_per_student_and_lab_then_check_columns():
    entries = [
        entry("ada", "http_api", check("test_a", 4), check("test_b", 2)),
        entry("ada", "python_client", check("test_c", 6, 6)),
        entry("bob", "http_api", check("test_a", 1, feedback="wrong"), check("test_b", 0)),
        missing("bob", "python_client"),
    ]
    tasks = [e.task for e in entries]
    header, rows = _rows(classroom.gradebook_csv(tasks, {e.task: e for e in entries}))
    assert header == [
        "student", "score", "max_score", "needs_regrade",
        "http_api", "http_api/test_a", "http_api/test_b",
        "python_client", "python_client/test_c",
    ]  # fmt: skip
    assert rows["ada"] == {
        "student": "ada", "score": "12.0", "max_score": "14.0", "needs_regrade": "no",
        "http_api": "6.0", "http_api/test_a": "4.0", "http_api/test_b": "2.0",
        "python_client": "6.0", "python_client/test_c": "6.0",
    }  # fmt: skip
    # The missing lab counts 0 of its full marks: every student has the same maximum.
    assert rows["bob"] == {
        "student": "bob", "score": "1.0", "max_score": "14.0", "needs_regrade": "no",
        "http_api": "1.0", "http_api/test_a": "1.0", "http_api/test_b": "0.0",
        "python_client": "0.0", "python_client/test_c": "0.0",
    }  # fmt: skip


def test_gradebook_flags_regrades_and_what_is_not_graded_yet():
    ada = entry("ada", "http_api", check("test_a", 4), infra("test_b"))
    bob = entry("bob", "http_api", check("test_a", 4), check("test_b", 4))
    cy_http = entry("cy", "http_api", check("test_a", 4), check("test_b", 4))
    cy_client = Task("cy", "python_client", Path("/subs/cy/python_client"))
    tasks = [ada.task, bob.task, cy_http.task, cy_client]
    _, rows = _rows(classroom.gradebook_csv(tasks, {e.task: e for e in (ada, bob, cy_http)}))
    assert rows["ada"]["needs_regrade"] == "yes"
    assert rows["ada"]["score"] == rows["ada"]["max_score"] == "4.0"  # infra errors excluded
    assert rows["ada"]["http_api/test_a"] == "4.0" and rows["ada"]["http_api/test_b"] == ""
    assert rows["bob"]["needs_regrade"] == "no"
    assert rows["cy"]["needs_regrade"] == "pending" and rows["cy"]["score"] == "8.0"
    _, none_yet = _rows(classroom.gradebook_csv(tasks, {}))
    assert {r["needs_regrade"] for r in none_yet.values()} == {"pending"}


# -- JUnit XML -----------------------------------------------------------------------


def test_junit_has_a_suite_per_student_lab_and_never_passes_an_infra_error():
    entries = [
        entry("bob", "http_api", check("test_a", 4), check("test_b", 1, feedback="off\nhint")),
        entry("ada", "http_api", check("test_a", 4), infra("test_b")),
        entry("ada", "python_client"),  # the run produced nothing
        missing("cy", "http_api"),
    ]
    root = ET.fromstring(classroom.junit_xml(entries))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["ada/http_api", "ada/python_client", "bob/http_api", "cy/http_api"]
    counts = {n: (s.get("tests"), s.get("failures"), s.get("errors")) for n, s in suites.items()}
    assert counts == {
        "ada/http_api": ("2", "0", "1"),
        "ada/python_client": ("1", "0", "1"),
        "bob/http_api": ("2", "1", "0"),
        "cy/http_api": ("1", "1", "0"),
    }
    passed, lost = suites["bob/http_api"].iter("testcase")
    assert len(passed) == 0 and passed.get("classname") == "bob.http_api"
    failure = lost.find("failure")
    assert failure is not None and failure.get("message") == "off"
    assert failure.text == "1/4 points\noff\nhint"
    error = suites["ada/http_api"].findall("testcase")[1].find("error")
    assert error is not None and "InfluxDB went away" in (error.text or "")


# -- summary -------------------------------------------------------------------------


def test_summary_gives_the_distribution_and_where_students_lose_points():
    entries = [
        entry("ada", "http_api", check("test_a", 4), check("test_b", 6, 6)),
        entry("bob", "http_api", check("test_a", 0, feedback="not implemented yet\nhint: x"),
              check("test_b", 6, 6), reused=True),
        entry("cy", "http_api", check("test_a", 2, feedback="wrong precision"),
              check("test_b", 0, 6, feedback="not implemented yet")),
        entry("dee", "http_api", check("test_a", 0, feedback="not implemented yet"),
              check("test_b", 1, 6)),
        entry("eve", "http_api", check("test_a", 4), infra("test_b", 6)),
        missing("fay", "http_api"),
    ]  # fmt: skip
    (lab,) = classroom.summarize(entries)
    assert lab.lab == "http_api" and lab.max_score == 10
    assert sorted(lab.scores) == [1, 2, 6, 10]  # final grades only: not eve, not fay
    assert (lab.missing, lab.needs_regrade, lab.reused) == (1, 1, 1)
    assert lab.histogram() == [0, 1, 1, 0, 0, 0, 1, 0, 0, 1]  # full marks in the last tenth
    by_check = {c.check: c for c in lab.checks}
    assert (by_check["test_a"].graded, by_check["test_a"].lost) == (5, 3)
    assert (by_check["test_a"].feedback, by_check["test_a"].feedback_count) == (
        "not implemented yet",
        2,
    )
    assert (by_check["test_b"].graded, by_check["test_b"].lost) == (4, 2)

    text = classroom.summary_markdown([lab])
    assert "## http_api (out of 10)" in text
    assert "1 need a regrade, 1 missing, 1 reused from an earlier run." in text
    assert "| 4 | 1 | 4 | 4.8 | 10 |" in text  # n, min, median, mean, max
    assert "\n90-100% # 1\n" in text and "\n  0-10% 0\n" in text
    assert "| test_a | 4 | 3/5 | not implemented yet (2) |" in text


def test_summary_of_a_lab_without_final_grades_says_so():
    (lab,) = classroom.summarize([entry("ada", "http_api"), missing("bob", "http_api")])
    assert lab.scores == [] and lab.max_score == 0 and lab.histogram() == [0] * 10
    assert "No final grades yet." in classroom.summary_markdown([lab])
