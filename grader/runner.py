"""Runs inside a submission's sandbox: a small server that calls the student's functions.

    python -P -s -m grader.runner serve SOURCE WORKDIR SCRATCH MODULE_FILE_NAME [--sweep]
    python -P -s -m grader.runner program SOURCE WORKDIR SCRIPT [ARG ...]
    python -P -s -m grader.runner workload SOURCE WORKDIR MODULE_FILE PLAN_JSON
    python -P -s -m grader.runner notebook SOURCE WORKDIR NOTEBOOK NAMES_JSON CELL_TIMEOUT

``serve`` copies the student's folder SOURCE to WORKDIR (the private,
writable copy the code runs in), imports the known libraries the student's
module imports (pandas, influxdb-client...) once, then answers one request
per line on stdin: it forks a child that imports the student's module afresh
and calls one function, waits for it, and replies with one JSON line on
stdout. So a check that calls the code ten times pays for pandas and
influxdb-client once, yet every call starts from a clean import of the
student's module. With ``--sweep`` (inside a sandbox's
own PID namespace, where this server is the only other process the student
can signal) every process the call left behind is killed before the reply.

A JavaScript module's call is the same forked child turned into Node.js
(``node_runner.mjs``): same output files, settings, limits and result file.

The child's outcome goes to a result file, never to stdout, so whatever the
student prints cannot be mistaken for a result; every failure is reported
with the stage it happened in (import, lookup, call, result), which is what
the grader turns into feedback.

``program`` makes the same private copy and then becomes the student's
long-running program (``exec``), so signals reach it directly. ``workload`` makes
the copy and runs the grader's own code against the student's module as a program
would (see ``grader.workload``), ending the way a program ends. ``notebook``
executes a Jupyter notebook with nbclient and reports its named results
(see ``grader.notebook``).
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import importlib
import importlib.util
import json
import os
import resource
import shutil
import signal
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from grader import codec, workload

OUTPUT_KEEP = 2000  # characters kept from each end of stdout/stderr
RESULT_LIMIT = 16 * 1024**2  # bytes of a result the grader reads
JAVASCRIPT = (".mjs", ".js")  # a module with one of these suffixes runs under Node.js
NOTEBOOK = ".ipynb"  # a Jupyter notebook, executed whole (``notebook`` mode)
# Libraries the server may import before any student code (each call's child inherits
# them): those of these that the student's module imports, found by reading its source.
PRELOADABLE = frozenset(
    {"aiohttp", "influxdb_client", "numpy", "paho", "pandas", "psutil", "reactivex", "requests"}
)


def trim(text: str, keep: int = OUTPUT_KEEP) -> str:
    """The start and end of ``text``, with a note saying how much was cut between."""
    if len(text) <= 2 * keep:
        return text
    return f"{text[:keep]}\n… [{len(text) - 2 * keep} characters trimmed] …\n{text[-keep:]}"


def _error(exc: BaseException, module_file: Path) -> dict[str, Any]:
    """The exception as data: type, message, its attributes and the student's frames."""
    frames = [
        f"{Path(f.filename).name}:{f.lineno} in {f.name}: {f.line}"
        for f in traceback.extract_tb(exc.__traceback__)
        if Path(f.filename).resolve().parent == module_file.parent
    ]
    attrs = {}
    for key, value in getattr(exc, "__dict__", {}).items():
        try:
            attrs[key] = codec.encode(value)
        except (TypeError, ValueError, RecursionError):
            attrs[key] = repr(value)[:1000]
    try:
        message = str(exc)
    except Exception:  # a student's __str__ may raise too
        message = f"<{type(exc).__name__} whose message cannot be shown>"
    return {
        "type": type(exc).__name__,
        "message": message[:4000],
        "attrs": attrs,
        "frames": frames[-5:],
    }


class LambdaContext:
    """What AWS Lambda's Python runtime passes a handler as ``context``: the attributes and
    the method of awslambdaric's LambdaContext that handlers read."""

    def __init__(self, function_name: str, timeout_ms: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:eu-central-1:000000000000:function:{function_name}"
        )
        self.memory_limit_in_mb = "128"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, round((self._deadline - time.monotonic()) * 1000))


def _invoke(handler: Any, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Invoke ``handler(event, context)`` once per event in this one process, as Lambda
    invokes a warm one again and again: what a module keeps between calls stays."""
    results = []
    for event in codec.decode(spec["events"]):
        context = LambdaContext(spec["function_name"], spec["timeout_ms"])
        started = time.perf_counter()
        value = handler(event, context)
        seconds = time.perf_counter() - started
        results.append({"request_id": context.aws_request_id, "seconds": seconds, "value": value})
    return results


def run(module_file: Path, function: str, request: dict[str, Any]) -> dict[str, Any]:
    """Import the module, call the function, encode the value: the outcome as data."""
    stage = "import"
    try:
        sys.path.insert(0, str(module_file.parent))
        spec = importlib.util.spec_from_file_location(module_file.stem, module_file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {module_file.name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_file.stem] = module
        spec.loader.exec_module(module)

        stage = "lookup"
        target = getattr(module, function, None)
        if not callable(target):
            return {
                "ok": False,
                "stage": stage,
                "error": {
                    "type": "AttributeError",
                    "message": f"{module_file.name} has no function {function}()",
                    "attrs": {},
                    "frames": [],
                },
            }

        stage = "call"
        if "invocations" in request:
            value = _invoke(target, request["invocations"])
        else:
            args = codec.decode(request.get("args", []))
            kwargs = codec.decode(request.get("kwargs", {}))
            value = target(*args, **kwargs)

        stage = "result"
        return {"ok": True, "value": codec.encode(value)}
    except BaseException as exc:  # the student's code may raise anything, even SystemExit
        return {"ok": False, "stage": stage, "error": _error(exc, module_file)}


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _private_copy(source: Path, workdir: Path) -> str:
    """Copy the student's folder into the writable work folder; a note if it did not fit."""
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        # node_modules: the lab's pinned packages are mounted for it (see bwrap_command).
        ignore = shutil.ignore_patterns("node_modules")
        shutil.copytree(source, workdir, symlinks=True, dirs_exist_ok=True, ignore=ignore)
    except (OSError, shutil.Error) as exc:
        return f"the submission folder could not be copied whole: {str(exc)[:300]}"
    return ""


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _not_dumpable() -> None:
    """Keep the student's processes out of this server's /proc files (its pipes above all)."""
    _prctl(4, 0)  # PR_SET_DUMPABLE


def _die_with_server() -> None:
    """A call dies with the server that forked it (uncontained, nothing else would end it)."""
    _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _child(request: dict[str, Any], scratch: Path) -> None:  # pragma: no cover - forked child
    """The forked call: its own session, output files, settings and CPU limit; never returns."""
    try:
        os.setsid()
        _die_with_server()
        tag = request["tag"]
        devnull = os.open(os.devnull, os.O_RDONLY)
        out = os.open(scratch / f"{tag}.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(scratch / f"{tag}.err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, target in ((devnull, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
        os.closerange(3, 1 << 16)
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        cpu = int(request["cpu"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        os.chdir(request["cwd"])
        if request["module"].endswith(JAVASCRIPT):
            _become_node(request, scratch)
        outcome = run(Path(request["module"]), request["function"], request)
        try:
            text = json.dumps(outcome)
        except (TypeError, ValueError, RecursionError) as exc:
            text = json.dumps({"ok": False, "stage": "result", "error": _error(exc, Path("/"))})
        sys.stdout.flush()
        sys.stderr.flush()
        _write_atomically(scratch / f"{tag}.json", text)
    finally:
        # Leave at once: a student's non-daemon thread or atexit hook must not hold the result.
        os._exit(0)


def _become_node(request: dict[str, Any], scratch: Path) -> None:  # pragma: no cover - child
    """Replace this child with Node.js running the call (see node_runner.mjs); the result
    file is the same one a Python call writes. Returns only if Node.js is not there."""
    tag = request["tag"]
    arguments = scratch / f"{tag}.args.json"
    arguments.write_text(json.dumps({"args": codec.exact_for_javascript(request.get("args", []))}))
    node = shutil.which("node", path=os.environ.get("PATH"))
    if node is None:
        raise FileNotFoundError("Node.js (node) is not installed where the grader runs")
    runner = Path(__file__).with_name("node_runner.mjs")
    os.execv(
        node,
        [
            node,
            str(runner),
            request["module"],
            request["function"],
            str(arguments),
            str(scratch / f"{tag}.json"),
        ],
    )


def _read_trimmed(path: Path) -> str:
    """The start and end of an output file, however large it grew."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size <= 64 * 1024:
            return trim(fh.read().decode(errors="replace"))
        head = fh.read(4 * OUTPUT_KEEP).decode(errors="replace")[:OUTPUT_KEEP]
        fh.seek(size - 4 * OUTPUT_KEEP)
        tail = fh.read().decode(errors="replace")[-OUTPUT_KEEP:]
    return f"{head}\n… [about {size - 2 * OUTPUT_KEEP} characters trimmed] …\n{tail}"


def _collect(tag: str, scratch: Path, status: int) -> dict[str, Any]:
    """The reply for one call: exit status, trimmed output, and the result text if any."""
    reply: dict[str, Any] = {"tag": tag, "status": status}
    for stream in ("out", "err"):
        path = scratch / f"{tag}.{stream}"
        with contextlib.suppress(OSError):
            reply[f"std{stream}"] = _read_trimmed(path)
            path.unlink()
    result = scratch / f"{tag}.json"
    with contextlib.suppress(OSError):
        size = result.stat().st_size
        if size > RESULT_LIMIT:
            reply["too_large"] = size
        else:
            reply["result"] = result.read_text(errors="replace")
        result.unlink()
    return reply


def preloadable(module_file: Path) -> list[str]:
    """The known libraries ``module_file`` imports, read from its source (never run here)."""
    try:
        tree = ast.parse(module_file.read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return sorted({n for n in names if n.split(".")[0] in PRELOADABLE})


def _sweep(deadline: float = 10.0) -> None:
    """Kill every process this one may signal but itself and the namespace's init, and wait
    until they are gone from the namespace (the reply must not race the kernel's reaping)."""
    keep = {"1", str(os.getpid())}
    end = time.monotonic() + deadline
    while True:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(-1, signal.SIGKILL)
        left = [p for p in os.listdir("/proc") if p.isdigit() and p not in keep]
        if not left or time.monotonic() > end:
            return
        time.sleep(0.005)


def _mount_points() -> set[Path]:
    """The sandbox's mount points (the interpreter may be mounted inside /tmp)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return set()
    return {Path(line.split()[4]) for line in lines}


def _empty(folder: Path, keep: Path | None = None) -> None:
    """Remove everything in ``folder`` but ``keep`` and mounts, whatever modes the student set."""
    mounts = _mount_points()

    def force(function: Any, path: str, _: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            function(path)

    for entry in list(folder.iterdir()) if folder.is_dir() else []:
        if entry == keep or entry in mounts:
            continue
        if any(entry in m.parents for m in mounts):  # the way to a mount: empty it around
            _empty(entry, keep)
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, onerror=force)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


def serve(source: Path, workdir: Path, scratch: Path, module: str, sweep: bool) -> None:
    """Answer call requests, one JSON line in and one out, until stdin closes."""
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing but replies on the reply pipe
    _not_dumpable()
    note = _private_copy(source, workdir)
    scratch.mkdir(parents=True, exist_ok=True)
    for name in preloadable(workdir / module):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    replies.write(json.dumps({"ready": True, "note": note}) + "\n")
    replies.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("reset"):  # the next check: as a new sandbox would be (every call
            # already ended with nothing of it left running)
            _empty(Path(os.environ["HOME"]), keep=scratch)
            _empty(workdir)
            _empty(scratch)
            note = _private_copy(source, workdir)
            replies.write(json.dumps({"tag": request["tag"], "ready": True, "note": note}) + "\n")
            replies.flush()
            continue
        pid = os.fork()
        if pid == 0:
            _child(request, scratch)
        # The grader kills this group if the call outlives its time (uncontained, that is all
        # it can kill; contained, it ends the whole sandbox).
        replies.write(json.dumps({"started": request["tag"], "pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        if sweep:  # this PID namespace holds only the sandbox: end all the call left behind
            _sweep()
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        replies.write(json.dumps(_collect(request["tag"], scratch, status)) + "\n")
        replies.flush()


def program(source: Path, workdir: Path, script: str, args: list[str]) -> None:
    """Make the private copy, then become the student's program."""
    note = _private_copy(source, workdir)
    if note:
        print(note, file=sys.stderr, flush=True)
    os.chdir(workdir)
    os.execv(sys.executable, [sys.executable, str(workdir / script), *args])


def run_workload(source: Path, workdir: Path, module: str, plan: str) -> None:
    """Make the private copy, then run the grader's workload on the student's module."""
    note = _private_copy(source, workdir)
    if note:
        print(note, file=sys.stderr, flush=True)
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    workload.main(workdir / module, json.loads(plan))


def run_notebook(source: Path, workdir: Path, notebook: str, names: str, timeout: str) -> None:
    """Make the private copy, then execute the student's notebook (see grader.notebook)."""
    from grader import notebook as executor  # nbclient and ipykernel: only this mode needs them

    note = _private_copy(source, workdir)
    if note:
        print(note, file=sys.stderr, flush=True)
    os.chdir(workdir)
    _not_dumpable()
    executor.main(workdir, notebook, json.loads(names), float(timeout))


def main() -> None:
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "serve":
        serve(Path(rest[0]), Path(rest[1]), Path(rest[2]), rest[3], "--sweep" in rest[4:])
    elif mode == "program":
        program(Path(rest[0]), Path(rest[1]), rest[2], rest[3:])
    elif mode == "workload":
        run_workload(Path(rest[0]), Path(rest[1]), rest[2], rest[3])
    elif mode == "notebook":
        run_notebook(Path(rest[0]), Path(rest[1]), rest[2], rest[3], rest[4])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
