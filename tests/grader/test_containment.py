"""Hostile submissions against the sandbox itself: each attack a student could write in the
lab's Python file, run through the grader's real runner in a real bubblewrap sandbox.

Every test asserts what the attack got (nothing it should not have) and that nothing it
started is left on the machine afterwards.
"""

from __future__ import annotations

import os
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader import isolation
from grader.isolation import LIMITS, Isolation
from grader.labs import REPO_ROOT
from grader.submission import Runner, SandboxError, Submission

from .conftest import needs_sandbox, survivors

pytestmark = needs_sandbox

MakeSubmission = Callable[[str], Submission]


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[MakeSubmission]:
    """hostile(source) -> a contained Submission of a module ``lab.py`` with that source."""
    made: list[Submission] = []

    def make(source: str) -> Submission:
        folder = tmp_path / f"student-{len(made)}"
        folder.mkdir()
        (folder / "lab.py").write_text(textwrap.dedent(source))
        code = Submission(folder, "lab", {"LAB_SETTING": "x"}, timeout=20, isolation="required")
        made.append(code)
        return code

    yield make
    for code in made:
        code.close()


def _content(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def test_it_sees_no_other_process_and_has_no_privileges(hostile: MakeSubmission, tmp_path):
    code = hostile(
        """
        import ctypes, os, socket

        def peek():
            pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
            cmdlines = [open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")
                        for p in pids if os.path.exists(f"/proc/{p}/cmdline")]
            status = open("/proc/self/status").read()
            caps = [line.split()[1] for line in status.splitlines()
                    if line.startswith(("CapEff", "CapPrm", "CapBnd"))]
            userns = ctypes.CDLL(None, use_errno=True).unshare(0x10000000)  # CLONE_NEWUSER
            environ = ""
            for p in pids:
                try:
                    environ += open(f"/proc/{p}/environ", "rb").read().decode(errors="replace")
                except OSError:
                    pass
            return {"pids": pids, "cmdlines": cmdlines, "uid": os.getuid(), "caps": caps,
                    "userns": userns, "hostname": socket.gethostname(), "environ": environ}
        """
    )
    os.environ["GRADER_TEST_SECRET"] = secret = uuid.uuid4().hex  # in the grader's environment
    try:
        result = code.call("peek")
    finally:
        del os.environ["GRADER_TEST_SECRET"]
    seen = result.value
    assert result.ok, result.explain()
    assert seen["uid"] == isolation.SANDBOX_UID
    assert set(seen["caps"]) == {"0000000000000000"}
    assert seen["userns"] == -1  # no nested user namespace either
    assert seen["hostname"] == "sandbox"
    # Only the sandbox's init, the call server and the call itself (and its own children).
    assert len(seen["pids"]) <= 4 and os.getpid() not in seen["pids"]
    assert not any(str(tmp_path) in c for c in seen["cmdlines"]), seen["cmdlines"]
    assert secret not in seen["environ"]


def test_secrets_the_grader_and_other_students_are_not_there(
    hostile: MakeSubmission, tmp_path: Path
):
    classmate = tmp_path / "classmate"
    classmate.mkdir()
    (classmate / "lab.py").write_text("ANSWER = 42\n")
    report = tmp_path / "report.jsonl"
    report.write_text('{"plan": []}\n')
    targets = [
        str(classmate / "lab.py"),
        str(report),
        str(REPO_ROOT / "grader" / "plugin.py"),
        str(REPO_ROOT / "grader" / "checks" / "http_api.py"),
        str(REPO_ROOT / ".env"),
        str(REPO_ROOT / "pyproject.toml"),
        str(Path.home() / ".cache" / "influx-labs"),
        "/etc/shadow",
    ]
    before = {t: _content(Path(t)) for t in targets}
    code = hostile(
        f"""
        import os
        TARGETS = {targets!r}

        def steal():
            found = {{}}
            for path in TARGETS:
                try:
                    found[path] = "read: " + open(path).read()[:50]
                except OSError as exc:
                    found[path] = type(exc).__name__
                try:
                    with open(path, "a") as fh:
                        fh.write("{{\\"points\\": 999}}\\n")
                    found[path] += " / WRITTEN"
                except OSError:
                    pass
            return found
        """
    )
    result = code.call("steal")
    assert result.ok, result.explain()
    assert {k: v for k, v in result.value.items() if v.startswith("read")} == {}
    # Whatever it wrote went to its own tmpfs (the repo may sit under /tmp): no real file moved.
    assert {t: _content(Path(t)) for t in targets} == before


def test_its_own_folder_is_a_private_copy(hostile: MakeSubmission):
    code = hostile(
        """
        import os

        def scribble():
            with open("lab.py", "a") as fh:
                fh.write("# changed\\n")
            open("notes.txt", "w").write("mine")
            return sorted(os.listdir("."))
        """
    )
    original = (code.path / "lab.py").read_text()
    result = code.call("scribble")
    assert result.ok, result.explain()
    assert "notes.txt" in result.value
    assert (code.path / "lab.py").read_text() == original
    assert not (code.path / "notes.txt").exists()


def test_daemons_and_fork_storms_end_with_the_call(hostile: MakeSubmission):
    marker = f"daemon-{uuid.uuid4().hex[:8]}"
    code = hostile(
        f"""
        import os, subprocess, time

        def daemon():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["{marker}", "300"])
                os._exit(0)
            time.sleep(0.5)
            return "started"

        def storm():
            made = 0
            for _ in range(5000):
                try:
                    pid = os.fork()
                except OSError:
                    break
                if pid == 0:
                    os.setsid()
                    os.execv("/bin/sleep", ["{marker}", "300"])
                made += 1
            return made
        """
    )
    assert code.call("daemon").ok
    assert survivors(marker) == []
    storm = code.call("storm")
    assert storm.ok, storm.explain()
    if isolation.cgroups_available():
        assert storm.value < LIMITS.processes
    assert survivors(marker) == []
    assert code.call("daemon").ok  # the sandbox still serves the check's next call


def test_memory_is_capped_for_the_whole_sandbox(hostile: MakeSubmission):
    if not isolation.cgroups_available():
        pytest.skip("no cgroup here: only the per-process address-space limit holds")
    code = hostile(
        """
        import os

        def hog(children=5, size=1_400_000_000):
            pids = []
            for _ in range(children):
                pid = os.fork()
                if pid == 0:
                    block = bytearray(size)
                    for i in range(0, size, 4096):
                        block[i] = 1
                    os._exit(0)
                pids.append(pid)
            return sum(os.waitpid(p, 0)[1] == 0 for p in pids)
        """
    )
    result = code.call("hog", timeout=90)  # the kernel reclaiming 3 GiB is slow on a busy machine
    # 3 GiB for the whole sandbox: at most two 1.4 GB children finish, wherever the others die.
    assert (result.ok and result.value <= 2) or result.stage == "crash", result.explain()


def test_tmp_is_small_and_gone_afterwards(hostile: MakeSubmission):
    code = hostile(
        """
        import os

        def flood():
            written = 0
            block = b"x" * (1 << 20)
            try:
                with open("/tmp/flood.bin", "wb") as fh:
                    for _ in range(900):
                        fh.write(block)
                        written += len(block)
            except OSError as exc:
                return [written, type(exc).__name__]
            return [written, None]
        """
    )
    result = code.call("flood")
    assert result.ok, result.explain()
    written, error = result.value
    assert written <= LIMITS.tmp and error == "OSError"
    assert not list(Path("/tmp").glob("flood.bin"))


def test_pipes_held_by_a_leftover_child_do_not_stretch_a_call(hostile: MakeSubmission):
    code = hostile(
        """
        import subprocess

        def linger():
            subprocess.Popen(["sleep", "60"], start_new_session=True)
            return "done"
        """
    )
    result = code.call("linger")
    assert result.ok and result.seconds < 5, (result.seconds, result.explain())


def test_killing_everything_it_can_see_costs_only_its_own_call(hostile: MakeSubmission):
    code = hostile(
        """
        import os, signal

        def fine():
            return "ok"

        def kill_all():
            for pid in (os.getppid(), 1, -1):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            return "survived"
        """
    )
    first = code.call("kill_all")
    assert not first.ok and first.stage == "crash", first.explain()
    assert code.call("fine").value == "ok"  # a new sandbox for the next call


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("return {'$datetime': 'not a date'}", "could not be decoded"),
        ("return {'$dataframe': {'columns': 1}}", "could not be decoded"),
        ("v = []\n    for _ in range(200_000):\n        v = [v]\n    return v", "recursion depth"),
        ("return 'x' * 20_000_000", "at most 16 MB"),
        ("return object()", "cannot send a value of type builtins.object"),
    ],
)
def test_values_the_grader_cannot_read_are_the_students_failure(
    hostile: MakeSubmission, body: str, words: str
):
    code = hostile(f"def answer():\n    {body}\n")
    result = code.call("answer")
    assert not result.ok and result.stage == "result", result.explain()
    assert words in result.explain()


def test_a_hanging_call_ends_its_whole_sandbox(hostile: MakeSubmission):
    marker = f"hang-{uuid.uuid4().hex[:8]}"
    code = hostile(
        f"""
        import os, subprocess, time

        def hang():
            subprocess.Popen(["{marker}", "300"], executable="/bin/sleep", start_new_session=True)
            time.sleep(300)
        """
    )
    started = time.monotonic()
    result = code.call("hang", timeout=2)
    assert result.stage == "timeout" and time.monotonic() - started < 10
    assert survivors(marker) == []


def test_a_program_and_what_it_starts_end_with_it(hostile: MakeSubmission):
    marker = f"prog-{uuid.uuid4().hex[:8]}"
    code = hostile("")
    (code.path / "prog.py").write_text(
        textwrap.dedent(
            f"""
            import os, signal, subprocess, sys, time
            subprocess.Popen(["{marker}", "300"], executable="/bin/sleep", start_new_session=True)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            print("READY", flush=True)
            time.sleep(300)
            """
        )
    )
    program = code.program("prog.py")
    assert program.wait_for_line("READY", 20), program.stderr()
    assert len(survivors(marker)) == 1  # running, inside the program's sandbox
    assert program.terminate(10) == 0
    program.close()
    assert survivors(marker) == []


def test_required_isolation_refuses_to_run_uncontained(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(isolation, "unavailable", lambda: "bwrap is not installed")
    with pytest.raises(SandboxError, match="must run contained"):
        Submission(tmp_path, "lab", {}, isolation=Isolation.REQUIRED)
    assert not Submission(tmp_path, "lab", {}, isolation=Isolation.AUTO).contained


def test_the_next_check_starts_from_a_sandbox_as_new(tmp_path: Path):
    """One sandbox serves a run's checks; between two, nothing of the first is left."""
    marker = f"leftover-{uuid.uuid4().hex[:8]}"
    (tmp_path / "lab.py").write_text(
        textwrap.dedent(
            f"""
            import os, subprocess

            def leave_traces():
                os.makedirs("/tmp/locked/deep")
                open("/tmp/locked/deep/f", "w").write("x")
                os.chmod("/tmp/locked", 0)
                open(os.path.expanduser("~/.secret"), "w").write("x")
                open("extra.py", "w").write("x")
                with open("lab.py", "a") as fh:
                    fh.write("CHANGED = True\\n")
                subprocess.Popen(["{marker}", "300"], executable="/bin/sleep",
                                 start_new_session=True)

            def look():
                return sorted(os.listdir("/tmp") + os.listdir(os.path.expanduser("~"))
                              + os.listdir(".")), "CHANGED" in globals()
            """
        )
    )
    runner = Runner(tmp_path, "lab", "required")
    try:
        first = Submission(tmp_path, "lab", {}, runner=runner)
        fresh = first.call("look").value
        assert first.call("leave_traces").ok
        first.close()  # the end of a check
        second = Submission(tmp_path, "lab", {}, runner=runner)
        assert second.call("look").value == fresh
        assert survivors(marker) == []
    finally:
        runner.close()


def test_the_code_runs_in_the_zone_it_is_given(hostile: MakeSubmission):
    code = hostile("import time\n\ndef offset():\n    return time.strftime('%z')\n")
    assert code.call("offset").value == "+0530"  # Asia/Kolkata, the first student zone
    code.timezone = "America/Los_Angeles"
    assert code.call("offset").value in ("-0800", "-0700")


def test_lambda_invocations_share_one_process_and_a_new_call_starts_afresh(
    hostile: MakeSubmission,
):
    """``invoke`` runs every event in one process, as a warm Lambda does, with a context
    whose remaining time counts down; the next invoke starts from a fresh import."""
    code = hostile(
        """
        import os, time
        seen = []

        def handler(event, context):
            seen.append(event["n"])
            before = context.get_remaining_time_in_millis()
            time.sleep(0.05)
            spent = before - context.get_remaining_time_in_millis()
            return {
                "seen": list(seen), "pid": os.getpid(), "name": context.function_name,
                "id": context.aws_request_id, "spent": spent,
            }
        """
    )
    first = code.invoke("handler", [{"n": 1}, {"n": 2}, {"n": 3}], function_name="fn")
    assert first.ok, first.explain()
    values = [run["value"] for run in first.value]
    assert [v["seen"] for v in values] == [[1], [1, 2], [1, 2, 3]]
    assert len({v["pid"] for v in values}) == 1 and {v["name"] for v in values} == {"fn"}
    assert [run["request_id"] for run in first.value] == [v["id"] for v in values]
    assert len({v["id"] for v in values}) == 3
    assert all(45 <= v["spent"] <= 1000 for v in values)
    assert all(0.05 <= run["seconds"] < 5 for run in first.value)
    again = code.invoke("handler", [{"n": 4}], function_name="fn")
    assert again.ok and again.value[0]["value"]["seen"] == [4]
    broken = code.invoke("handler", [{"n": 5}, {}], function_name="fn")
    assert not broken.ok and broken.error_type == "KeyError"
