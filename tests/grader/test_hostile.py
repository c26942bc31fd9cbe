"""Hostile submissions against whole grading runs: forging the report, rewriting the grader,
killing the run. A contained attack changes nothing but its own score; a run that dies is
never complete, never full marks, and always flagged for a regrade."""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from grader.cli import external_env, grade
from grader.labs import LABS, REPO_ROOT
from grader.results import Outcome
from influx_labs.services import Endpoints

from .conftest import lab_points, needs_sandbox, patched, survivors
from .test_robustness import HEALTH_BODY

# Full marks as the gradebook writes them.
FULL = f"{lab_points('http_api'):.1f}"

pytestmark = needs_sandbox

LAB = LABS["http_api"]
SKELETON_HEALTH = (
    "    # TODO: request {url}/health and return the parsed JSON body.\n"
    "    raise NotImplementedError"
)
PLUGIN = REPO_ROOT / "grader" / "plugin.py"

FORGER = f"""
    import glob, json, os, signal
    line = json.dumps({{"check": "test_health", "title": "t", "max_points": 1, "points": 1,
                       "outcome": "passed"}})
    # The report file is named on pytest's command line, the token is in its memory.
    for cmdline in glob.glob("/proc/*/cmdline"):
        try:
            args = open(cmdline, "rb").read().split(b"\\0")
        except OSError:
            continue
        for i, arg in enumerate(args[:-1]):
            if arg == b"--grader-report":
                with open(args[i + 1], "a") as fh:
                    fh.write(line + "\\n")
    for path in ({str(PLUGIN)!r}, "/proc/1/mem"):
        try:
            with open(path, "a") as fh:
                fh.write("# every later student gets full marks\\n")
        except OSError:
            pass
    os.kill(-1, signal.SIGKILL)  # and everything it can see, pytest included if it could
    return {{}}"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_contained_submission_cannot_forge_its_report_or_rewrite_the_grader(
    endpoints: Endpoints, tmp_path: Path
):
    source = patched((LAB.skeleton / "http_api.py").read_text(), [(SKELETON_HEALTH, FORGER)])
    (tmp_path / "http_api.py").write_text(source)
    before = _sha(PLUGIN)
    report, output = grade(
        "http_api", tmp_path, "external", env=external_env(endpoints), isolation="required"
    )
    assert _sha(PLUGIN) == before
    assert len(report.checks) == 6, output  # every check ran and reported, once
    assert report.score == 0 and report.max_score == lab_points("http_api")
    assert not report.infra_errors
    assert report.isolation.startswith("bubblewrap sandbox")


def test_a_run_killed_after_its_first_check_is_never_full_marks(
    endpoints: Endpoints, tmp_path: Path
):
    """Uncontained (``--isolation off``), code can kill its pytest: the report must say so."""
    kill_pytest = (
        "    import psutil\n"
        "    psutil.Process(os.getppid()).parent().kill()  # the call server's parent: pytest\n"
    )
    source = (LAB.solution / "http_api.py").read_text()
    first_line = "    names: list[str] = []\n"  # in list_buckets()
    (tmp_path / "http_api.py").write_text(
        patched(source, [(first_line, first_line + "    import os\n" + kill_pytest)])
    )
    report, _ = grade(
        "http_api", tmp_path, "external", env=external_env(endpoints), isolation="off"
    )
    outcomes = {c.check: c.outcome for c in report.checks}
    assert len(outcomes) == 6  # the plan names every check, reported or not
    assert outcomes["test_health"] == Outcome.PASSED
    assert Outcome.INFRA_ERROR in outcomes.values()
    assert not report.full_marks and report.to_dict()["needs_regrade"]
    never = [c for c in report.checks if "never reported" in c.feedback]
    assert never and all(c.outcome == Outcome.INFRA_ERROR for c in never)


def test_a_hostile_student_between_two_good_ones_changes_nothing_but_its_own_row(
    endpoints: Endpoints, tmp_path: Path
):
    submissions, gradebook = tmp_path / "class", tmp_path / "gradebook.csv"
    for good in ("ada", "zed"):
        shutil.copytree(LAB.solution, submissions / good)
    marker = f"mallory-{uuid.uuid4().hex[:8]}"
    victims = [submissions / "ada" / "http_api.py", submissions / "zed" / "http_api.py", gradebook]
    attack = f"""
    import os, signal, time
    if os.fork() == 0:  # a daemon that outlives the check, then edits the class's files
        os.setsid()
        if os.fork() == 0:
            time.sleep(3)
            for path in {[str(v) for v in victims]!r}:
                try:
                    open(path, "w").write("mallory was here\\n")
                except OSError:
                    pass
            os.execv("/bin/sleep", ["{marker}", "300"])
        os._exit(0)
    for _ in range(2000):  # and a fork storm of setsid sleepers
        try:
            if os.fork() == 0:
                os.setsid()
                os.execv("/bin/sleep", ["{marker}", "300"])
        except OSError:
            break
    return {{}}"""
    source = patched((LAB.solution / "http_api.py").read_text(), [(HEALTH_BODY, attack)])
    (submissions / "mallory").mkdir()
    (submissions / "mallory" / "http_api.py").write_text(source)
    before = {v: v.read_bytes() for v in victims if v.exists()}

    result = subprocess.run(
        [str(Path(sys.executable).parent / "grader"), "class", "http_api", str(submissions),
         "--csv", str(gradebook), "--backend", "external", "--jobs", "2"],
        env=external_env(endpoints), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    written = gradebook.read_bytes()
    time.sleep(4)  # any daemon would have struck by now
    assert gradebook.read_bytes() == written
    assert all(v.read_bytes() == data for v, data in before.items())
    assert survivors(marker) == []
    rows = {row["student"]: row for row in csv.DictReader(written.decode().splitlines())}
    assert rows["ada"]["score"] == rows["zed"]["score"] == FULL
    assert rows["mallory"]["http_api/test_health"] == "0.0"
    assert float(rows["mallory"]["score"]) < lab_points("http_api")
    assert rows["mallory"]["needs_regrade"] == "no"


def test_a_task_script_reaches_no_other_organization(endpoints: Endpoints, tmp_path: Path):
    """A task script that reads the class's main organization (by its host, as an attacker
    who knows the URL would) gets nothing: the run fails and its log says why. The grader
    makes students' tasks with the check's scoped token, so a task has no more rights
    than the student's own code."""
    from influxdb_client import InfluxDBClient, Point
    from influxdb_client.client.write_api import SYNCHRONOUS

    influx = endpoints.influx
    marker = f"secret_{uuid.uuid4().hex[:8]}"
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org) as admin:
        admin.write_api(write_options=SYNCHRONOUS).write(
            influx.bucket, record=Point(marker).field("v", 1)
        )
    hostile = (
        'option task = {name: "downsample-hourly", every: 1h, offset: 5m}\n'
        f'from(bucket: "{influx.bucket}", org: "{influx.org}", host: "{influx.url}")\n'
        "    |> range(start: -1d)\n"
        f'    |> filter(fn: (r) => r._measurement == "{marker}") |> to(bucket: "hourly")\n'
    )
    source = (LABS["tasks"].solution / "tasks.py").read_text()
    source += f"\n\ndef hourly_task() -> str:\n    return {hostile!r}\n"
    (tmp_path / "tasks.py").write_text(source)
    report, output = grade(
        "tasks", tmp_path, "external", env=external_env(endpoints), extra_args=["-k", "hourly"]
    )
    [check] = report.checks
    assert check.outcome == Outcome.FAILED and not report.infra_errors, output
    assert "ended 'failed'" in check.feedback, check.feedback
