"""``grader class``, the instructor's command: one gradebook row per student from live
grading runs (one lab, or every lab of a STUDENT/LAB/ layout, in parallel), the reports
beside it, re-runs that reuse what is still valid, and the usage errors an instructor
can make."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader.cli import EXIT_REGRADE, EXIT_USAGE, Backend, class_services, external_env
from grader.labs import LABS
from influx_labs.services import (
    BrokerEndpoint,
    Endpoints,
    ExternalStack,
    InfluxEndpoint,
    ServiceError,
)

from .conftest import lab_points, needs_sandbox, patched, survivors
from .test_robustness import HEALTH_BODY

# Full marks as the gradebook writes them.
FULL = f"{lab_points('http_api'):.1f}"
CLIENT_FULL = f"{lab_points('python_client'):.1f}"
BOTH = f"{lab_points('http_api') + lab_points('python_client'):.1f}"

GRADER = str(Path(sys.executable).parent / "grader")
LAB = LABS["http_api"]
CLIENT = LABS["python_client"]
FIXED = ["student", "score", "max_score", "needs_regrade"]


def _grader(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the command; its output with line wrapping undone (rich wraps long paths)."""
    result = subprocess.run(
        [GRADER, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    result.stdout, result.stderr = " ".join(result.stdout.split()), " ".join(result.stderr.split())
    return result


def _gradebook(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The gradebook's columns and its rows by student."""
    reader = csv.DictReader(path.read_text().splitlines())
    rows = {row["student"]: row for row in reader}
    return list(reader.fieldnames or []), rows


@needs_sandbox
def test_a_class_gets_one_trustworthy_row_per_student(endpoints: Endpoints, tmp_path: Path):
    submissions = tmp_path / "submissions"
    shutil.copytree(LAB.solution, submissions / "ada")
    shutil.copytree(LAB.skeleton, submissions / "bob")
    (submissions / "cy").mkdir()
    (submissions / "cy" / "http_api.py").write_text("def health(:\n")  # does not import
    source = (LAB.solution / "http_api.py").read_text()
    hang = patched(source, [(HEALTH_BODY, "    import time\n    time.sleep(10_000)")])
    (submissions / "dee").mkdir()
    (submissions / "dee" / "http_api.py").write_text(hang)
    (submissions / "notes.txt").write_text("not a submission")  # files are not students
    for extra in (".git", "__MACOSX"):  # nor are what version control and archivers add
        shutil.copytree(LAB.skeleton, submissions / extra)

    gradebook, reports = tmp_path / "gradebook.csv", tmp_path / "reports"
    result = _grader(
        "class", "http_api", str(submissions), "--csv", str(gradebook),
        "--reports", str(reports), "--backend", "external", "--call-timeout", "5",
        env=external_env(endpoints),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

    header, rows = _gradebook(gradebook)
    assert list(rows) == ["ada", "bob", "cy", "dee"]
    checks = [c.removeprefix("http_api/") for c in header[len(FIXED) + 1 :]]
    assert header[: len(FIXED) + 1] == [*FIXED, "http_api"]
    assert len(checks) == 6 and "test_health" in checks
    assert {r["max_score"] for r in rows.values()} == {FULL}
    assert {r["needs_regrade"] for r in rows.values()} == {"no"}
    assert rows["ada"]["score"] == rows["ada"]["http_api"] == FULL
    assert rows["bob"]["score"] == rows["cy"]["score"] == "0.0"
    # The hanging health() was stopped after --call-timeout and cost only its own check.
    health = float(rows["ada"]["http_api/test_health"])
    assert rows["dee"]["http_api/test_health"] == "0.0"
    assert float(rows["dee"]["score"]) == lab_points("http_api") - health

    for student, row in rows.items():
        report = json.loads((reports / student / "http_api.json").read_text())
        assert report["score"] == float(row["score"]) and report["fingerprint"]
        assert {c["check"]: c["points"] for c in report["checks"]} == {
            name: float(row[f"http_api/{name}"]) for name in checks
        }
        gradescope = json.loads((reports / student / "http_api.results.json").read_text())
        assert gradescope["score"] == float(row["score"]) and len(gradescope["tests"]) == 6
    dee = json.loads((reports / "dee" / "http_api.json").read_text())
    hung = {c["check"]: c for c in dee["checks"]}
    assert "stopped after 5s" in hung["test_health"]["feedback"]

    suites = {s.get("name"): s for s in ET.parse(reports / "junit.xml").iter("testsuite")}
    assert list(suites) == ["ada/http_api", "bob/http_api", "cy/http_api", "dee/http_api"]
    assert [(s.get("failures"), s.get("errors")) for s in suites.values()] == [
        ("0", "0"), ("6", "0"), ("6", "0"), ("1", "0"),
    ]  # fmt: skip
    summary = (reports / "summary.md").read_text()
    assert f"## http_api (out of {lab_points('http_api'):g})" in summary
    assert "| test_health | 1 | 3/4 |" in summary
    assert "4 graded now, 0 reused" in result.stdout


def _nested_class(root: Path) -> Path:
    """ada did both labs, bob handed in both skeletons, cy only did http_api."""
    submissions = root / "submissions"
    for lab in (LAB, CLIENT):
        shutil.copytree(lab.solution, submissions / "ada" / lab.name)
        shutil.copytree(lab.skeleton, submissions / "bob" / lab.name)
    shutil.copytree(LAB.solution, submissions / "cy" / LAB.name)
    shutil.copytree(LAB.skeleton, submissions / ".git" / LAB.name)  # not a student
    (submissions / "cy" / "notes").mkdir()  # names no lab: left alone
    return submissions


def _grade_class(submissions: Path, endpoints: Endpoints, *args: str):
    """The run and its gradebook; the output of any grading that needs a regrade is added
    to the run's stdout, so a failed assertion shows why."""
    gradebook = submissions.parent / "gradebook.csv"
    command = ["class", str(submissions), "--csv", str(gradebook), "--backend", "external"]
    result = _grader(*command, *args, env=external_env(endpoints))
    for log in sorted(gradebook.with_name("gradebook-reports").glob("*/*.log")):
        result.stdout += f"\n--- {log.parent.name}/{log.name}\n{log.read_text()}"
    return result, gradebook


@needs_sandbox
def test_a_nested_class_grades_every_lab_in_parallel(endpoints: Endpoints, tmp_path: Path):
    result, gradebook = _grade_class(_nested_class(tmp_path), endpoints, "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 graded now, 0 reused, 1 missing, 0 need a regrade" in result.stdout

    header, rows = _gradebook(gradebook)
    assert list(rows) == ["ada", "bob", "cy"]
    http_at, client_at = header.index("http_api"), header.index("python_client")
    assert header[:http_at] == FIXED
    assert [c.split("/")[0] for c in header[http_at + 1 : client_at]] == ["http_api"] * 6
    assert [c.split("/")[0] for c in header[client_at + 1 :]] == ["python_client"] * 8
    assert {r["max_score"] for r in rows.values()} == {BOTH}
    assert {r["needs_regrade"] for r in rows.values()} == {"no"}
    ada = rows["ada"]
    assert (ada["score"], ada["http_api"], ada["python_client"]) == (BOTH, FULL, CLIENT_FULL)
    assert {rows["bob"][c] for c in header[http_at:]} == {"0.0"}
    # cy's missing lab: 0 points on each of its checks, and nothing to regrade.
    assert rows["cy"]["score"] == rows["cy"]["http_api"] == FULL
    assert {rows["cy"][c] for c in header[client_at:]} == {"0.0"}

    reports = tmp_path / "gradebook-reports"  # beside the CSV, named after it
    gone = json.loads((reports / "cy" / "python_client.json").read_text())
    assert gone["missing"] and not gone["needs_regrade"] and gone["score"] == 0
    assert {p.name for p in (reports / "ada").iterdir()} == {
        "http_api.json", "http_api.results.json",
        "python_client.json", "python_client.results.json",
    }  # fmt: skip
    suites = [s.get("name") for s in ET.parse(reports / "junit.xml").iter("testsuite")]
    assert len(suites) == 6 and "cy/python_client" in suites
    summary = (reports / "summary.md").read_text()
    assert f"## python_client (out of {lab_points('python_client'):g})" in summary


@needs_sandbox
def test_a_rerun_reuses_what_is_unchanged_and_grades_what_changed(
    endpoints: Endpoints, tmp_path: Path
):
    submissions = _nested_class(tmp_path)
    first, gradebook = _grade_class(submissions, endpoints)
    assert first.returncode == 0, first.stdout + first.stderr
    graded = gradebook.read_text()

    again, _ = _grade_class(submissions, endpoints)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 graded now, 5 reused, 1 missing" in again.stdout
    assert gradebook.read_text() == graded
    summary = (tmp_path / "gradebook-reports" / "summary.md").read_text()
    assert "3 reused from an earlier run" in summary  # http_api: ada, bob and cy
    assert "2 reused from an earlier run" in summary  # python_client: ada and bob

    # bob finishes http_api: only that one is graded again.
    shutil.copy(LAB.solution / "http_api.py", submissions / "bob" / "http_api" / "http_api.py")
    (submissions / "bob" / "http_api" / "__pycache__").mkdir()  # changes nothing by itself
    changed, _ = _grade_class(submissions, endpoints)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "1 graded now, 4 reused" in changed.stdout
    _, rows = _gradebook(gradebook)
    assert rows["bob"]["http_api"] == FULL and rows["bob"]["score"] == FULL
    before = graded.splitlines()
    after = gradebook.read_text().splitlines()
    assert [line for line in after if not line.startswith("bob,")] == [
        line for line in before if not line.startswith("bob,")
    ]

    fresh, _ = _grade_class(submissions, endpoints, "--fresh")
    assert fresh.returncode == 0 and "5 graded now, 0 reused" in fresh.stdout


def test_no_isolation_warns_what_it_risks(endpoints: Endpoints, tmp_path: Path):
    shutil.copytree(LAB.skeleton, tmp_path / "submissions" / "ada")
    result = _grader(
        "class", "http_api", str(tmp_path / "submissions"), "--csv", str(tmp_path / "g.csv"),
        "--backend", "external", "--no-isolation",
        env=external_env(endpoints),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runs uncontained" in result.stdout and "admin token" in result.stdout
    assert "other students' submissions" in result.stdout


@needs_sandbox
def test_a_class_whose_services_fail_needs_a_regrade_and_keeps_the_log(tmp_path: Path):
    shutil.copytree(LAB.solution, tmp_path / "submissions" / "ada")
    nothing = Endpoints(  # nothing listens on the discard port
        InfluxEndpoint("http://127.0.0.1:9", "org", "bucket", "token"),
        BrokerEndpoint("127.0.0.1", 9),
        "external",
    )
    dead = external_env(nothing)
    gradebook = tmp_path / "gradebook.csv"
    result = _grader(
        "class", "http_api", str(tmp_path / "submissions"), "--csv", str(gradebook),
        "--backend", "external", env=dead,
    )  # fmt: skip
    assert result.returncode == EXIT_REGRADE, result.stdout + result.stderr
    _, rows = _gradebook(gradebook)
    assert rows["ada"]["needs_regrade"] == "yes" and rows["ada"]["http_api/test_health"] == ""
    assert (tmp_path / "gradebook-reports" / "ada" / "http_api.log").read_text()
    suite = next(ET.parse(tmp_path / "gradebook-reports" / "junit.xml").iter("testsuite"))
    assert suite.get("errors") == "6"  # never counted as passed
    again = _grader(
        "class", "http_api", str(tmp_path / "submissions"), "--csv", str(gradebook),
        "--backend", "external", env=dead,
    )  # fmt: skip
    assert "1 graded now, 0 reused" in again.stdout  # a regrade is never reused


def test_a_class_refuses_to_run_uncontained(tmp_path: Path):
    shutil.copytree(LAB.skeleton, tmp_path / "submissions" / "ada")
    no_bwrap = {**os.environ, "PATH": str(tmp_path)}  # bubblewrap cannot be found
    gradebook = tmp_path / "gradebook.csv"
    result = _grader(
        "class", "http_api", str(tmp_path / "submissions"), "--csv", str(gradebook), env=no_bwrap
    )
    assert result.returncode == EXIT_REGRADE, result.stdout + result.stderr
    assert "contained, but bubblewrap (bwrap) is not installed" in result.stdout
    assert not (tmp_path / "gradebook-reports" / "ada" / "http_api.json").exists()


def test_usage_errors_are_named_and_exit_2(tmp_path: Path):
    unknown = _grader("class", "no_such_lab", str(tmp_path))
    assert unknown.returncode == EXIT_USAGE and "no lab named 'no_such_lab'" in unknown.stdout
    missing = _grader("class", "http_api", str(tmp_path / "missing"))
    assert missing.returncode == EXIT_USAGE and "is not a folder" in missing.stdout
    empty = _grader("class", "http_api", str(tmp_path))
    assert empty.returncode == EXIT_USAGE and "no submission folders" in empty.stdout
    no_folder = _grader("class", "http_api")
    assert no_folder.returncode == EXIT_USAGE and "name the submissions folder" in no_folder.stdout
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "http_api.py").write_text("")  # one lab's layout given as nested
    flat = _grader("class", str(tmp_path))
    assert flat.returncode == EXIT_USAGE and "as STUDENT/LAB/" in flat.stdout
    not_a_folder = _grader("check", "http_api", str(tmp_path / "missing"))
    assert not_a_folder.returncode == EXIT_USAGE and "is not a folder" in not_a_folder.stdout
    for args in (["check", "http_api"], ["class", "http_api", str(tmp_path)]):
        too_short = _grader(*args, "--call-timeout", "0")
        assert too_short.returncode == EXIT_USAGE and "call-timeout" in too_short.stderr


@needs_sandbox
def test_killing_the_class_loses_nothing_graded_and_a_rerun_continues(
    endpoints: Endpoints, tmp_path: Path
):
    submissions = tmp_path / "submissions"
    for student in ("ada", "bob", "cy", "dee"):
        shutil.copytree(LAB.solution, submissions / student)
    gradebook, reports = tmp_path / "gradebook.csv", tmp_path / "gradebook-reports"
    command = [GRADER, "class", "http_api", str(submissions), "--csv", str(gradebook)]
    command += ["--backend", "external", "--jobs", "1"]
    run = subprocess.Popen(
        command, env=external_env(endpoints), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def graded() -> set[str]:
        """The students whose row holds a score (each report is saved just before)."""
        if not gradebook.exists():
            return set()
        return {s for s, row in _gradebook(gradebook)[1].items() if row["score"] == FULL}

    deadline = time.monotonic() + 120
    while not graded() and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)  # no clean-up of any kind
    run.wait()
    done = graded()
    assert 1 <= len(done) < 4
    assert all((reports / student / "http_api.json").exists() for student in done)
    time.sleep(1)  # the grading under way died with the class, sandbox and all
    assert survivors(str(submissions)) == []

    again = _grader(*command[1:], env=external_env(endpoints))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{4 - len(done)} graded now, {len(done)} reused" in again.stdout
    _, rows = _gradebook(gradebook)
    assert {row["score"] for row in rows.values()} == {FULL} and len(rows) == 4


@pytest.mark.usefixtures("native_binaries")
def test_a_class_gets_the_extra_servers_its_labs_need(monkeypatch):
    """The class's servers include a lab's second InfluxDB; each grading run, on external
    servers, finds it in its settings, and one nobody started is a clear error."""
    with class_services(Backend.native, ["cloud", "cloud"]) as (backend, env, served_by):
        assert (backend, served_by) == ("external", "native") and env is not None
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with ExternalStack() as stack:
            cloud = stack.influx_server("cloud")
            assert cloud.url == env["INFLUXDB_CLOUD_URL"] != env["INFLUXDB_V2_URL"]
            cloud.check_token()
            with pytest.raises(ServiceError, match="set INFLUXDB_MOON_URL"):
                stack.influx_server("moon")
