"""Running a student's code: always in a child process, never in the grader's.

Each call or program gets its settings through the environment (the check's
own scoped token, never the grader's), a timeout after which its whole
process group is killed, resource limits, and captured output trimmed to a
readable size. Whatever the code does, the grader gets a result object back.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import codec

OUTPUT_KEEP = 2000  # characters kept from each end of stdout/stderr
MEMORY_LIMIT = 2 * 1024**3  # bytes of address space; pandas fits well within it
FILE_LIMIT = 64 * 1024**2  # bytes any one file (including captured output) may grow to
CALL_TIMEOUT = 30.0  # default seconds for one call of the student's code (--call-timeout)


def trim(text: str, keep: int = OUTPUT_KEEP) -> str:
    """The start and end of ``text``, with a note saying how much was cut between."""
    if len(text) <= 2 * keep:
        return text
    return f"{text[:keep]}\n… [{len(text) - 2 * keep} characters trimmed] …\n{text[-keep:]}"


def _limits(cpu_seconds: int) -> None:  # pragma: no cover - runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _describe_exit(code: int) -> str:
    if code >= 0:
        return f"exited with status {code}"
    name = signal.Signals(-code).name
    why = {
        "SIGKILL": " (killed: out of time or memory)",
        "SIGXCPU": " (used too much CPU time)",
        "SIGXFSZ": " (wrote too much output)",
        "SIGSEGV": " (crashed)",
    }.get(name, "")
    return f"was killed by {name}{why}"


@dataclass
class CallResult:
    """What one function call in the submission gave."""

    function: str
    ok: bool
    value: Any = None
    stage: str = ""  # import | lookup | call | result | timeout | crash
    error_type: str = ""
    message: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    frames: list[str] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    @property
    def not_implemented(self) -> bool:
        return self.error_type == "NotImplementedError"

    def explain(self) -> str:
        """One paragraph for the student saying what went wrong in this call."""
        if self.ok:
            return f"{self.function}() returned {self.value!r}"
        where = {
            "import": "your module failed to import",
            "lookup": "the function is missing",
            "call": f"{self.function}() raised {self.error_type}",
            "result": f"{self.function}() returned a value the grader cannot read",
            "timeout": f"{self.function}() did not finish in time",
            "crash": f"the process running {self.function}() died",
        }.get(self.stage, self.stage)
        if self.not_implemented:
            return f"{self.function}() is not implemented yet (it raises NotImplementedError)"
        text = f"{where}: {self.message}".rstrip(": ")
        if self.frames:
            text += "\n  at " + "\n  at ".join(self.frames)
        if self.stderr.strip() and self.stage in ("import", "crash", "timeout"):
            text += f"\n  stderr: {trim(self.stderr.strip(), 400)}"
        return text


class Submission:
    """A student's lab folder, run one child process at a time."""

    def __init__(self, path: Path, module: str, env: dict[str, str], timeout: float = 30.0):
        self.path = path
        self.module = module
        self.env = env
        self.timeout = timeout

    @property
    def module_file(self) -> Path:
        return self.path / f"{self.module}.py"

    def child_env(self, home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Only what the code needs: no grader secrets leak through the environment."""
        base = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
        return {
            **base,
            "HOME": str(home),  # an empty home inside the run's own temporary directory
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "PYTHONPATH": str(self.path),
            **self.env,
            **(extra or {}),
        }

    def call(
        self,
        function: str,
        *args: Any,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> CallResult:
        """Call ``function(*args, **kwargs)`` from the student's module in a new process."""
        timeout = timeout or self.timeout
        if not self.module_file.exists():
            return CallResult(
                function,
                False,
                stage="import",
                error_type="FileNotFoundError",
                message=f"{self.module_file.name} is missing from {self.path}",
            )
        with tempfile.TemporaryDirectory(prefix="grader-call-") as tmp:
            result_file = Path(tmp) / "result.json"
            out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
            request = json.dumps({"args": codec.encode(list(args)), "kwargs": codec.encode(kwargs)})
            started = time.monotonic()
            with out_path.open("wb") as out, err_path.open("wb") as err:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "grader.runner",
                        str(self.module_file),
                        function,
                        str(result_file),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=err,
                    cwd=self.path,
                    env=self.child_env(Path(tmp), env),
                    start_new_session=True,
                    preexec_fn=lambda: _limits(int(timeout) + 5),
                )
                timed_out = False
                try:
                    proc.communicate(request.encode(), timeout=timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    _kill_group(proc)  # also ends any child or thread it left behind
            seconds = time.monotonic() - started
            stdout = out_path.read_text(errors="replace")
            stderr = err_path.read_text(errors="replace")
            base = {
                "function": function,
                "stdout": trim(stdout),
                "stderr": trim(stderr),
                "seconds": seconds,
            }
            if timed_out:
                return CallResult(
                    ok=False,
                    stage="timeout",
                    error_type="Timeout",
                    message=f"stopped after {timeout:.0f}s",
                    **base,
                )
            try:
                outcome = json.loads(result_file.read_text())
            except (OSError, ValueError):
                return CallResult(
                    ok=False,
                    stage="crash",
                    error_type="Crash",
                    message=f"the process {_describe_exit(proc.returncode)}",
                    **base,
                )
        if outcome["ok"]:
            return CallResult(ok=True, value=codec.decode(outcome["value"]), **base)
        error = outcome["error"]
        return CallResult(
            ok=False,
            stage=outcome["stage"],
            error_type=error["type"],
            message=error["message"],
            attrs=codec.decode(error["attrs"]),
            frames=error["frames"],
            **base,
        )

    def program(self, script: str, *args: str, env: dict[str, str] | None = None) -> Program:
        """Start a long-running program from the submission (e.g. the IoT bridge)."""
        return Program(self, script, list(args), env or {})


class Program:
    """A student's long-running program: started, signalled and stopped by the grader."""

    def __init__(
        self, submission: Submission, script: str, args: list[str], env: dict[str, str]
    ) -> None:
        self.script = submission.path / script
        self._tmp = tempfile.TemporaryDirectory(prefix="grader-program-")
        self.out_path = Path(self._tmp.name) / "stdout"
        self.err_path = Path(self._tmp.name) / "stderr"
        self._out = self.out_path.open("wb")
        self._err = self.err_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(self.script), *args],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            cwd=submission.path,
            env=submission.child_env(Path(self._tmp.name), env),
            start_new_session=True,
            preexec_fn=lambda: _limits(600),
        )

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for_line(self, text: str, timeout: float) -> bool:
        """Wait until a stdout line equals ``text``; False on timeout or if the program exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in (line.strip() for line in self.stdout().splitlines()):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float) -> int | None:
        """SIGTERM and wait up to ``timeout``: the exit code, or None if it had to be killed."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc)
                return None
        return self.proc.returncode

    def close(self) -> None:
        """Kill whatever is left and drop the captured output files."""
        _kill_group(self.proc)
        self._out.close()
        self._err.close()
        self._tmp.cleanup()

    def describe_exit(self) -> str:
        code = self.proc.poll()
        return "is still running" if code is None else _describe_exit(code)
