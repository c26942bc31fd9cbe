"""A broken, hanging, noisy or greedy submission fails only the checks it touches, with a
message saying why; a failing service is an infrastructure error that costs nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from grader.cli import EXIT_REGRADE, external_env, grade
from grader.labs import LABS
from grader.results import Outcome
from influx_labs.services import NativeStack
from influx_labs.services.process import free_port, process_gone

from .conftest import patched

LAB = LABS["http_api"]
HEALTH_BODY = (
    "    return _check(requests.get(f\"{settings()['url']}/health\", timeout=TIMEOUT)).json()"
)


def _submission(tmp_path: Path, source: str) -> Path:
    (tmp_path / "http_api.py").write_text(source)
    return tmp_path


def _with_health(tmp_path: Path, body: str) -> Path:
    source = (LAB.solution / "http_api.py").read_text()
    return _submission(tmp_path, patched(source, [(HEALTH_BODY, body)]))


def _only_health_fails(report) -> str:
    by_check = {c.check: c for c in report.checks}
    assert by_check["test_health"].outcome == Outcome.FAILED
    others = {c.check: (c.outcome, c.feedback) for c in report.checks if c.check != "test_health"}
    assert {outcome for outcome, _ in others.values()} == {Outcome.PASSED}, others
    return by_check["test_health"].feedback


def test_a_module_that_does_not_import_fails_every_check_and_says_why(grade_folder, tmp_path):
    report = grade_folder("http_api", _submission(tmp_path, "def health(:\n    pass\n"))
    assert len(report.checks) == 6 and report.score == 0 and not report.infra_errors
    for check in report.checks:
        assert "your module failed to import" in check.feedback
        assert "SyntaxError" in check.feedback or "invalid syntax" in check.feedback


def test_a_hanging_call_is_stopped_and_only_its_check_fails(grade_folder, tmp_path):
    folder = _with_health(tmp_path, "    import time\n    time.sleep(10_000)")
    feedback = _only_health_fails(grade_folder("http_api", folder, "--call-timeout", "3"))
    assert "did not finish in time" in feedback and "stopped after 3s" in feedback


def test_megabytes_of_output_and_a_hard_exit_are_trimmed_and_explained(grade_folder, tmp_path):
    body = "    import os, sys\n    sys.stderr.write('x' * 5_000_000)\n    os._exit(3)"
    feedback = _only_health_fails(grade_folder("http_api", _with_health(tmp_path, body)))
    assert "exited with status 3" in feedback
    assert "characters trimmed" in feedback
    assert len(feedback) < 10_000


def test_system_exit_and_memory_exhaustion_are_reported_not_fatal(grade_folder, tmp_path):
    feedback = _only_health_fails(
        grade_folder("http_api", _with_health(tmp_path, "    raise SystemExit(0)"))
    )
    assert "raised SystemExit" in feedback
    hog = tmp_path / "hog"
    hog.mkdir()
    feedback = _only_health_fails(
        grade_folder("http_api", _with_health(hog, "    return bytearray(4 * 1024**3)"))
    )
    assert "MemoryError" in feedback


def test_the_submission_never_sees_the_admin_token(grade_folder, tmp_path, influx):
    report = grade_folder("http_api", _with_health(tmp_path, "    return dict(os.environ)"))
    health = next(c for c in report.checks if c.check == "test_health")
    assert "INFLUXDB_V2_TOKEN" in health.feedback  # it did print its environment...
    assert influx.token not in health.feedback  # ...which holds only its scoped token


def test_servers_that_are_down_make_infra_errors_and_cost_nothing(tmp_path):
    env = external_env_for_dead_server()
    report, _ = grade("http_api", LAB.solution, "external", env=env)
    assert report.checks and all(c.outcome == Outcome.INFRA_ERROR for c in report.checks)
    assert report.score == 0 and report.max_score == 0
    assert report.to_dict()["needs_regrade"] is True
    cli = Path(sys.executable).parent / "grader"
    result = subprocess.run(
        [str(cli), "check", "http_api", str(LAB.solution), "--backend", "external"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == EXIT_REGRADE
    assert "infrastructure error" in " ".join(result.stdout.split())


def external_env_for_dead_server() -> dict[str, str]:
    from influx_labs.services import BrokerEndpoint, Endpoints, InfluxEndpoint

    dead = InfluxEndpoint(f"http://127.0.0.1:{free_port()}", "o", "b", "token")
    return external_env(Endpoints(dead, BrokerEndpoint("127.0.0.1", free_port()), "external"))


@pytest.mark.usefixtures("native_binaries")
def test_a_server_dying_mid_run_never_costs_the_student_points(tmp_path):
    with NativeStack() as stack:
        # The first check's call takes the server down, as a crash would. (Only uncontained
        # code can reach the server's process: a sandbox cannot see it.)
        kill = f"os.kill({stack.influxd.pid}, {int(signal.SIGKILL)})"
        body = f"    import os\n    {kill}\n    return {{}}"
        report, output = grade(
            "http_api",
            _with_health(tmp_path, body),
            "external",
            env=external_env(stack.endpoints),
            isolation="off",
        )
    assert report.checks, output
    outcomes = {c.check: c.outcome for c in report.checks}
    assert set(outcomes.values()) == {Outcome.INFRA_ERROR}, outcomes
    assert "a lab service failed" in report.checks[0].feedback


def test_uncontained_calls_still_end_the_processes_they_start(endpoints, tmp_path):
    """Where no sandbox can run (``--isolation off``), a call's process group is killed."""
    marker = tmp_path / "child.pid"
    body = (
        "    import subprocess\n"
        f"    p = subprocess.Popen(['sleep', '1000'])\n"
        f"    open({str(marker)!r}, 'w').write(str(p.pid))\n"
        "    p.wait()"
    )
    report, _ = grade(
        "http_api",
        _with_health(tmp_path, body),
        "external",
        env=external_env(endpoints),
        call_timeout=3,
        isolation="off",
    )
    _only_health_fails(report)
    pid = int(marker.read_text())
    assert process_gone(pid), "a process started by the submission outlived its call"
