"""Running a student's code: always in child processes, contained, never in the grader's.

Calls go to the runner's call server (``grader.runner serve``), started on
the first call inside a bubblewrap sandbox (:mod:`grader.isolation`) and
kept for the grading run, reset as new between checks (:class:`Runner`):
each call is a fresh fork with a clean import of the student's module, while
pandas and influxdb-client are imported once.
Long-running programs (the IoT bridge) get a sandbox of their own.

Each call gets its settings through the environment (the check's own scoped
token, never the grader's), a timeout after which the whole sandbox is
killed (the next call starts a new one), resource limits, and captured
output trimmed to a readable size. Whatever the code does, the grader gets a
:class:`CallResult` back; what the code returns is untrusted data, and
anything unreadable in it is the student's failure, never the grader's.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from influx_labs.services.process import die_with_parent

from . import codec, isolation
from .isolation import LIMITS, SOURCE_DIR, STATE_DIR, SUBMISSION_DIR, Cgroup, Isolation
from .labs import source_file
from .runner import RESULT_LIMIT, trim

MEMORY_LIMIT = 2 * 1024**3  # bytes of address space per process; pandas fits well within it
FILE_LIMIT = 64 * 1024**2  # bytes any one file (including captured output) may grow to
CALL_TIMEOUT = 30.0  # default seconds for one call of the student's code (--call-timeout)
START_TIMEOUT = 60.0  # seconds for a sandbox to start and import its libraries
RESET_TIMEOUT = 30.0  # seconds for a sandbox to clean up between two checks
# The time zones a student's code runs in (the grader's own is often UTC, which hides
# local-time mistakes): one with a half-hour offset, one west of UTC with daylight saving.
STUDENT_ZONES = ("Asia/Kolkata", "America/Los_Angeles")
SCRATCH = "/tmp/.grader"  # where a contained call's output files live until collected


class SandboxError(RuntimeError):
    """The sandbox itself could not run: the grader's problem, never the student's."""


def _prepare(cpu_seconds: int, cgroup: Cgroup | None) -> None:  # pragma: no cover - in child
    """Between fork and exec: limits, the cgroup, and death with the grader."""
    die_with_parent()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cgroup is not None:
        cgroup.enter()


def _kill_sandbox(proc: subprocess.Popen, cgroup: Cgroup | None, *groups: int) -> None:
    """Kill a sandbox's (or an uncontained child's) process groups and its cgroup, then reap."""
    for group in (proc.pid, *groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group > 0:
                os.killpg(group, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill()
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


class _Server:
    """The runner's call server: one child process (a sandbox), one JSON line each way."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path, contained: bool):
        self.contained = contained
        self.cgroup = Cgroup.create(LIMITS) if contained else None
        self.log = log
        self._buffer = b""
        self.call_pid = 0  # the running call's process group (a host pid when uncontained)
        with log.open("wb") as err:
            self.proc = isolation.popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=cwd,
                env=env,
                start_new_session=True,
                preexec_fn=partial(_prepare, 3600, self.cgroup),
            )
        hello = self.read(START_TIMEOUT)
        if not isinstance(hello, dict) or not hello.get("ready"):
            self.kill()
            tail = log.read_text(errors="replace")[-1500:]
            raise SandboxError(f"the submission's sandbox did not start: {tail or hello}")
        self.note: str = str(hello.get("note") or "")

    def read(self, timeout: float) -> Any:
        """The next reply, None if the server ended, or TimeoutError's class on timeout."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    return TimeoutError
                if not selector.select(left):
                    continue
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return None
                self._buffer += chunk
                if len(self._buffer) > RESULT_LIMIT * 2 + (1 << 20):
                    return None  # no honest reply is this long
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except (ValueError, RecursionError):
            return None

    def ask(self, request: dict[str, Any], timeout: float) -> Any:
        """Send one call; its reply, None if the server ended, TimeoutError on timeout."""
        assert self.proc.stdin is not None
        deadline = time.monotonic() + timeout
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        started = self.read(timeout)
        if isinstance(started, dict) and started.get("started") == request["tag"]:
            self.call_pid = int(started.get("pid", 0))
            return self.read(deadline - time.monotonic())
        return started

    def oom_killed(self) -> bool:
        return self.cgroup is not None and self.cgroup.oom_killed()

    def kill(self) -> None:
        """End the sandbox and everything in it (uncontained: the server and the last call)."""
        # Contained, the call's pid is one of the sandbox's own: it means nothing out here.
        _kill_sandbox(self.proc, self.cgroup, *([] if self.contained else [self.call_pid]))
        if self.cgroup is not None:
            self.cgroup.remove()
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()  # type: ignore[union-attr]


class Runner:
    """The sandbox a grading run's calls go to: started on the first call, reset between checks.

    Between two checks the server kills every process the last one left (it
    already does after each call), empties ``/tmp`` and ``HOME``, and makes a
    new private copy of the student's folder: a check starts from the same
    state as in a new sandbox, without paying again for the libraries. A
    sandbox that timed out, crashed or does not answer the reset is killed;
    the next call starts a new one.
    """

    def __init__(
        self,
        path: Path,
        module: str,
        isolation: Isolation | str = Isolation.AUTO,
        packages: Path | None = None,
    ):
        self.path = path
        self.module = module
        self.packages = packages  # a JavaScript lab's node_modules, mounted for the code
        self.contained = contained(Isolation(isolation))
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: _Server | None = None
        self.calls = 0

    @property
    def workroot(self) -> Path:
        """The grader's own folder for this submission's sandboxes (never mounted whole)."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="grader-sandbox-")
            os.chmod(self._tmp.name, 0o700)
            isolation.write_identity(Path(self._tmp.name))
            if self.packages is not None and not self.contained:  # found from workdir's parent
                (Path(self._tmp.name) / "node_modules").symlink_to(self.packages)
        return Path(self._tmp.name)

    @property
    def workdir(self) -> Path:
        """Where the student's code runs: its private, writable copy of the folder."""
        return Path(SUBMISSION_DIR) if self.contained else self.workroot / "submission"

    @property
    def home(self) -> str:
        return "/tmp" if self.contained else str(self.workroot / "home")

    def runner_env(self) -> dict[str, str]:
        """The environment ``grader.runner`` itself starts with: no settings, no secrets."""
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "HOME": self.home,
        }
        if self.contained:
            return env | {"PYTHONPATH": isolation.RUNNER_DIR}
        Path(self.home).mkdir(exist_ok=True)
        return env | {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def runner_command(self, mode: str, *args: str, state: Path | None = None) -> list[str]:
        """The command line starting ``grader.runner MODE SOURCE WORKDIR ARGS...`` here
        (``state``: a folder mounted writable at STATE_DIR, see ``bwrap_command``)."""
        python = [sys.executable, "-P", "-s", "-m", "grader.runner"]
        if self.contained:
            command = [*python, mode, SOURCE_DIR, str(self.workdir), *args]
            return isolation.bwrap_command(
                self.path, self.workroot, command, state=state, packages=self.packages
            )
        return [*python, mode, str(self.path), str(self.workdir), *args]

    def server(self) -> _Server:
        """The call server, started on the first call and after a sandbox ended."""
        if self._server is None or self._server.proc.poll() is not None:
            if self.packages is not None and not self.packages.is_dir():
                raise SandboxError(
                    f"the lab's Node.js packages are not installed (no {self.packages.name} "
                    f"in labs/{self.packages.parent.name}): `./course check` installs them "
                    "with npm ci"
                )
            scratch = SCRATCH if self.contained else str(self.workroot / "scratch")
            sweep = ["--sweep"] if self.contained else []
            argv = self.runner_command("serve", scratch, source_file(self.module), *sweep)
            self._server = _Server(
                argv, self.runner_env(), self.workroot, self.workroot / "server.log", self.contained
            )
        return self._server

    def stop(self) -> None:
        """Kill the sandbox and everything in it."""
        if self._server is not None:
            self._server.kill()
            self._server = None

    def reset(self) -> None:
        """Make the sandbox as new for the next check, or end it if it cannot be."""
        if self._server is None or self._server.proc.poll() is not None:
            self.stop()
            return
        self.calls += 1
        tag = f"reset-{self.calls}"
        reply = self._server.ask({"tag": tag, "reset": True}, RESET_TIMEOUT)
        if not (isinstance(reply, dict) and reply.get("tag") == tag and reply.get("ready")):
            self.stop()
        else:
            self._server.note = str(reply.get("note") or "")

    def close(self) -> None:
        """End the sandbox and remove the grader's files for it."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class Submission:
    """A student's lab folder as one check sees it: its settings, its calls, its programs."""

    def __init__(
        self,
        path: Path,
        module: str,
        env: dict[str, str],
        timeout: float = CALL_TIMEOUT,
        isolation: Isolation | str = Isolation.AUTO,
        runner: Runner | None = None,
        timezone: str = STUDENT_ZONES[0],
    ):
        self.path = path
        self.module = module
        self.env = env
        self.timeout = timeout
        self.timezone = timezone  # the student's machine is rarely set to UTC
        self._owns_runner = runner is None
        self.runner = runner or Runner(path, module, isolation)
        self.contained = self.runner.contained
        self._programs: list[Program] = []

    @property
    def module_file(self) -> Path:
        return self.path / source_file(self.module)

    def child_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Only what the code needs: no grader secrets leak through the environment."""
        path = "/usr/local/bin:/usr/bin:/bin" if self.contained else os.environ.get("PATH", "")
        return {
            "PATH": f"{Path(sys.executable).parent}:{path}",
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "TZ": self.timezone,
            "HOME": self.runner.home,  # an empty home of its own
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "PYTHONPATH": str(self.runner.workdir),
            **self.env,
            **(extra or {}),
        }

    def program_env(self, extra: dict[str, str]) -> dict[str, str]:
        """A program's environment: the runner first on the path (it starts the program)."""
        runner = self.runner.runner_env()["PYTHONPATH"]
        return {**self.child_env(extra), "PYTHONPATH": f"{runner}:{self.runner.workdir}"}

    def call(
        self,
        function: str,
        *args: Any,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> CallResult:
        """Call ``function(*args, **kwargs)`` from the student's module in a fresh child."""
        fields = {"args": codec.encode(list(args)), "kwargs": codec.encode(kwargs)}
        return self._ask(function, fields, timeout, env)

    def invoke(
        self,
        function: str,
        events: list[Any],
        *,
        function_name: str,
        timeout_ms: int = 30_000,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
    ) -> CallResult:
        """Invoke a Lambda-style ``function(event, context)`` once per event, all in one
        fresh child (a warm Lambda process); the value is one dict per invocation:
        {"request_id", "seconds", "value"}."""
        spec = {
            "events": codec.encode(events),
            "function_name": function_name,
            "timeout_ms": timeout_ms,
        }
        return self._ask(function, {"invocations": spec}, timeout, env)

    def _ask(
        self,
        function: str,
        fields: dict[str, Any],
        timeout: float | None,
        env: dict[str, str] | None,
    ) -> CallResult:
        timeout = timeout or self.timeout
        if not self.module_file.exists():
            return CallResult(
                function,
                False,
                stage="import",
                error_type="FileNotFoundError",
                message=f"{self.module_file.name} is missing from {self.path}",
            )
        server = self.runner.server()
        self.runner.calls += 1
        workdir = self.runner.workdir
        request = {
            "tag": f"call-{self.runner.calls}",
            "module": str(workdir / source_file(self.module)),
            "function": function,
            **fields,
            "env": self.child_env(env),
            "cwd": str(workdir),
            "cpu": int(timeout) + 5,
        }
        started = time.monotonic()
        reply = server.ask(request, timeout)
        seconds = time.monotonic() - started
        if reply is TimeoutError:
            self.runner.stop()
            return CallResult(
                function,
                False,
                stage="timeout",
                error_type="Timeout",
                message=f"stopped after {timeout:.0f}s",
                seconds=seconds,
            )
        if not isinstance(reply, dict) or reply.get("tag") != request["tag"]:
            oom = server.oom_killed()
            self.runner.stop()
            why = " (the sandbox ran out of memory)" if oom else ""
            return CallResult(
                function,
                False,
                stage="crash",
                error_type="Crash",
                message=f"the sandbox running it ended{why}",
                seconds=seconds,
            )
        if server.note:  # e.g. a folder too large for the sandbox's copy: say so
            reply["stderr"] = f"[grader] {server.note}\n{reply.get('stderr', '')}"
        return _interpret(function, reply, seconds)

    def program(
        self,
        script: str,
        *args: str,
        env: dict[str, str] | None = None,
        state: Path | None = None,
    ) -> Program:
        """Start a long-running program from the submission (e.g. the IoT bridge).

        ``state``: a folder of the check's that the program sees as ``$STATE_DIR``,
        the same one each time it is started again (e.g. after a SIGKILL).
        """
        if state is not None:
            env = {**(env or {}), "STATE_DIR": STATE_DIR if self.contained else str(state)}
        program = Program(self, script, list(args), env or {}, state)
        self._programs.append(program)
        return program

    def workload(self, plan: dict[str, Any], env: dict[str, str] | None = None) -> Program:
        """Run the grader's functions under the student's decorator as a program (see
        ``grader.workload``): its stdout is the workload's one-line report."""
        program = Program(
            self, self.module_file.name, [json.dumps(plan)], env or {}, mode="workload"
        )
        self._programs.append(program)
        return program

    def notebook(
        self, names: list[str], env: dict[str, str], cell_timeout: float, timeout: float
    ) -> dict[str, Any]:
        """Execute the student's notebook in a sandbox of its own (see ``grader.notebook``):
        its report, or {"failed": why} when it gave none within ``timeout`` seconds."""
        args = [json.dumps(names), str(cell_timeout)]
        program = Program(self, self.module_file.name, args, env, mode="notebook")
        self._programs.append(program)
        code = program.wait(timeout)
        report = program.last_json()
        if report is None:
            why = "did not finish in time" if code is None else program.describe_exit()
            report = {"failed": f"the notebook's run {why}; {program.report('run')}"}
        return report

    def close(self) -> None:
        """End this check's programs, and leave the call sandbox as new for the next check."""
        for program in self._programs:
            program.close()
        if self._owns_runner:
            self.runner.close()
        else:
            self.runner.reset()


def _interpret(function: str, reply: dict[str, Any], seconds: float) -> CallResult:
    """Turn the server's reply into a CallResult; anything unreadable is the student's."""
    base = {
        "function": function,
        "stdout": str(reply.get("stdout", "")),
        "stderr": str(reply.get("stderr", "")),
        "seconds": seconds,
    }
    if "too_large" in reply:
        size = int(reply["too_large"]) / 1024**2
        return CallResult(
            ok=False,
            stage="result",
            error_type="ResultTooLarge",
            message=f"the value is {size:.0f} MB as JSON; "
            f"the grader reads at most {RESULT_LIMIT // 1024**2} MB",
            **base,
        )
    if "result" not in reply:
        code = os.waitstatus_to_exitcode(int(reply.get("status", 0)))
        return CallResult(
            ok=False,
            stage="crash",
            error_type="Crash",
            message=f"the process {_describe_exit(code)}",
            **base,
        )
    try:
        outcome = json.loads(reply["result"])
        if outcome["ok"]:
            return CallResult(ok=True, value=codec.decode(outcome["value"]), **base)
        error = outcome["error"]
        return CallResult(
            ok=False,
            stage=str(outcome["stage"]),
            error_type=str(error["type"]),
            message=str(error["message"]),
            attrs=codec.decode(error["attrs"]),
            frames=[str(f) for f in error["frames"]],
            **base,
        )
    except Exception as exc:  # malformed markers, absurd nesting, forged files: all the student's
        return CallResult(
            ok=False,
            stage="result",
            error_type=type(exc).__name__,
            message=f"it could not be decoded ({trim(str(exc), 150)})",
            **base,
        )


def contained(choice: Isolation) -> bool:
    """Whether code runs in a sandbox under this choice (``required`` without bwrap: an error)."""
    if choice == Isolation.OFF:
        return False
    reason = isolation.unavailable()
    if reason and choice == Isolation.REQUIRED:
        raise SandboxError(f"student code must run contained, but {reason}")
    return not reason


class Program:
    """A student's long-running program in a sandbox of its own, signalled by the grader."""

    def __init__(
        self,
        submission: Submission,
        script: str,
        args: list[str],
        env: dict[str, str],
        state: Path | None = None,
        mode: str = "program",
    ) -> None:
        self.contained = submission.contained
        self._tmp = tempfile.TemporaryDirectory(prefix="grader-program-")
        self.out_path = Path(self._tmp.name) / "stdout"
        self.err_path = Path(self._tmp.name) / "stderr"
        argv = submission.runner.runner_command(mode, script, *args, state=state)
        self.cgroup = Cgroup.create(LIMITS) if self.contained else None
        self._status, status_write = os.pipe() if self.contained else (-1, -1)
        if self.contained:  # bwrap says there which process is the sandbox's init
            options_end = argv.index("--")
            argv[options_end:options_end] = ["--json-status-fd", str(status_write)]
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = isolation.popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=submission.runner.workroot,
                env=submission.program_env(env),
                start_new_session=True,
                pass_fds=(status_write,) if self.contained else (),
                preexec_fn=partial(_prepare, 600, self.cgroup),
            )
        self._init_pid = 0
        if self.contained:
            os.close(status_write)
            self._init_pid = _first_status_pid(self._status)

    def _pid(self) -> int | None:
        """The host pid of the student's program (inside a sandbox: its init's child)."""
        if not self.contained:
            return self.proc.pid
        for _ in range(100):
            with contextlib.suppress(OSError, ValueError):
                path = Path(f"/proc/{self._init_pid}/task/{self._init_pid}/children")
                children = path.read_text().split()
                if children:
                    return int(children[0])
            if self.proc.poll() is not None:
                return None
            time.sleep(0.01)
        return None

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

    def returncode(self) -> int | None:
        """The program's exit status; a sandbox reports death by signal N as 128 + N."""
        code = self.proc.poll()
        if code is not None and self.contained and 128 < code < 128 + signal.NSIG:
            return -(code - 128)
        return code

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for the program to end by itself: its exit code, or None
        when it had to be stopped."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.returncode() if self.proc.poll() is not None else self.terminate(5)

    def terminate(self, timeout: float) -> int | None:
        """SIGTERM and wait up to ``timeout``: the exit code, or None if it had to be killed."""
        if self.proc.poll() is None:
            pid = self._pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_sandbox(self.proc, self.cgroup)
                return None
        return self.returncode()

    def close(self) -> None:
        """Kill whatever is left and drop the captured output files."""
        _kill_sandbox(self.proc, self.cgroup)
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self._status >= 0:  # open until now: bwrap writes the exit status there too
            os.close(self._status)
            self._status = -1
        self._tmp.cleanup()

    def describe_exit(self) -> str:
        code = self.returncode()
        return "is still running" if code is None else _describe_exit(code)

    def report(self, name: str, how: str = "") -> str:
        """For feedback: how the program (``name``) is doing, or ``how``, with the end of
        what it wrote to stderr."""
        err = self.stderr().strip()
        tail = f"; its stderr ends with:\n{err[-700:]}" if err else ""
        return f"the {name} {how or self.describe_exit()}{tail}"

    def last_json(self) -> dict | None:
        """The JSON object on the program's last non-empty stdout line (its summary)."""
        lines = [line for line in self.stdout().splitlines() if line.strip()]
        try:
            last = json.loads(lines[-1]) if lines else None
        except ValueError:
            return None
        return last if isinstance(last, dict) else None


def _first_status_pid(fd: int) -> int:
    """bwrap's first status document names the sandbox's init process (its host pid)."""
    text = b""
    deadline = time.monotonic() + START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"}" not in text and time.monotonic() < deadline:
            if selector.select(deadline - time.monotonic()):
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                text += chunk
    try:
        return int(json.loads(text[: text.index(b"}") + 1])["child-pid"])
    except (ValueError, KeyError) as exc:
        raise SandboxError(f"the program's sandbox did not start: {text!r}") from exc
