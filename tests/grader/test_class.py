"""``grader class``, the instructor's command: one gradebook row per submission, from live
grading runs, and the usage errors an instructor can make."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

from grader.cli import EXIT_USAGE, external_env
from grader.labs import LABS
from influx_labs.services import Endpoints

from .conftest import patched
from .test_robustness import HEALTH_BODY

GRADER = str(Path(sys.executable).parent / "grader")
LAB = LABS["http_api"]


def _grader(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the command; its output with line wrapping undone (rich wraps long paths)."""
    result = subprocess.run(
        [GRADER, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    result.stdout, result.stderr = " ".join(result.stdout.split()), " ".join(result.stderr.split())
    return result


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

    with gradebook.open() as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    assert list(rows) == ["ada", "bob", "cy", "dee"]
    checks = [c for c in rows["ada"] if c not in ("student", "score", "max_score", "needs_regrade")]
    assert len(checks) == 6 and "test_health" in checks
    assert {r["max_score"] for r in rows.values()} == {"22.0"}
    assert {r["needs_regrade"] for r in rows.values()} == {"no"}
    assert rows["ada"]["score"] == "22.0"
    assert rows["bob"]["score"] == rows["cy"]["score"] == "0.0"
    # The hanging health() was stopped after --call-timeout and cost only its own check.
    health = float(rows["ada"]["test_health"])
    assert rows["dee"]["test_health"] == "0.0" and float(rows["dee"]["score"]) == 22.0 - health

    for student, row in rows.items():
        report = json.loads((reports / f"{student}.json").read_text())
        assert report["score"] == float(row["score"])
        assert {c["check"]: c["points"] for c in report["checks"]} == {
            name: float(row[name]) for name in checks
        }
    hung = {c["check"]: c for c in json.loads((reports / "dee.json").read_text())["checks"]}
    assert "stopped after 5s" in hung["test_health"]["feedback"]


def test_usage_errors_are_named_and_exit_2(tmp_path: Path):
    unknown = _grader("class", "no_such_lab", str(tmp_path))
    assert unknown.returncode == EXIT_USAGE and "no lab named 'no_such_lab'" in unknown.stdout
    missing = _grader("class", "http_api", str(tmp_path / "missing"))
    assert missing.returncode == EXIT_USAGE and "is not a folder" in missing.stdout
    empty = _grader("class", "http_api", str(tmp_path))
    assert empty.returncode == EXIT_USAGE and "no submission folders" in empty.stdout
    not_a_folder = _grader("check", "http_api", str(tmp_path / "missing"))
    assert not_a_folder.returncode == EXIT_USAGE and "is not a folder" in not_a_folder.stdout
    for args in (["check", "http_api"], ["class", "http_api", str(tmp_path)]):
        too_short = _grader(*args, "--call-timeout", "0")
        assert too_short.returncode == EXIT_USAGE and "call-timeout" in too_short.stderr
