"""The grader's own functions, decorated with a student's ``instrumented`` (lab
instrumentation) and called the way a service calls them. Runs inside the sandbox:

    python -P -s -m grader.runner workload SOURCE WORKDIR MODULE_FILE PLAN_JSON

The check plans the calls (which function, how long its work takes, from the main
thread, from a pool of threads or as concurrent coroutines, cancelled or not); this
module makes them and prints one JSON line about what the callers saw: whether each
got exactly what the undecorated function gives (its value, or its exception), how
long each call took beyond the function's own work, and what the wrapper looks like
to frameworks (its name, docstring, ``__wrapped__``, a coroutine function or not).
Then the process ends as any program does, so the student's exit-time flush runs;
what reached InfluxDB is for the check to read, not for this report to claim.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

THREADS = 4


class SensorOffline(OSError):
    """The grader's own error type, so its name is nobody's builtin."""


def read_sensor(sensor: int, delay: float) -> dict[str, Any]:
    """Read one sensor (the grader's docstring: a wrapper keeps it)."""
    time.sleep(delay)
    return {"sensor": sensor, "value": sensor * 1.5}


def calibrate(sensor: int, delay: float) -> None:
    time.sleep(delay)
    raise SensorOffline(f"sensor {sensor} is offline")


def find_user(sensor: int, delay: float) -> int:
    time.sleep(delay)
    return sensor * 1000


class Pump:
    def start(self, sensor: int, delay: float) -> Pump:
        time.sleep(delay)
        return self


async def fetch(sensor: int, delay: float) -> list[Any]:
    await asyncio.sleep(delay)
    return [sensor, delay]


async def upload(sensor: int, delay: float) -> None:
    await asyncio.sleep(delay)
    raise TimeoutError(f"upload of sensor {sensor} timed out")


async def stream(sensor: int, delay: float) -> None:
    await asyncio.sleep(delay)  # the workload cancels it before it ends


PUMP = Pump()


def expected(fn: str, sensor: int, delay: float) -> tuple[str, Any]:
    """What the undecorated function gives a caller: ("value", v) or ("raises", (type, text))."""
    return {
        "read_sensor": ("value", {"sensor": sensor, "value": sensor * 1.5}),
        "calibrate": ("raises", (SensorOffline, f"sensor {sensor} is offline")),
        "find_user": ("value", sensor * 1000),
        "Pump.start": ("value", PUMP),
        "fetch": ("value", [sensor, delay]),
        "upload": ("raises", (TimeoutError, f"upload of sensor {sensor} timed out")),
        "stream": ("raises", (asyncio.CancelledError, "")),
    }[fn]


def _decorate(instrumented: Any) -> dict[str, Any]:
    """The grader's functions as the student's decorator makes them (``find_user`` under
    an operation name of its own)."""
    return {
        "read_sensor": instrumented()(read_sensor),
        "calibrate": instrumented()(calibrate),
        "find_user": instrumented("lookup_user")(find_user),
        "Pump.start": instrumented()(Pump.start).__get__(PUMP),
        "fetch": instrumented()(fetch),
        "upload": instrumented()(upload),
        "stream": instrumented()(stream),
    }


def _outcome(call: dict[str, Any], got: tuple[str, Any], elapsed: float) -> dict[str, Any]:
    """One call's line of the report: the same as undecorated, and the time added."""
    kind, want = expected(call["fn"], call["sensor"], call["delay"])
    if kind == "value":
        same = got[0] == "value" and (
            got[1] is want if call["fn"] == "Pump.start" else got[1] == want
        )
    else:
        error = got[1]
        same = got[0] == "raises" and type(error) is want[0] and str(error) == want[1]
    work = call.get("cancel_after", call["delay"])
    seen = got[1] if got[0] == "value" else f"{type(got[1]).__name__}: {got[1]}"
    return {**call, "same": same, "saw": repr(seen)[:200], "overhead": elapsed - work}


def _sync_call(functions: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        got: tuple[str, Any] = ("value", functions[call["fn"]](call["sensor"], call["delay"]))
    except Exception as exc:
        got = ("raises", exc)
    return _outcome(call, got, time.perf_counter() - started)


async def _async_call(functions: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        pending = functions[call["fn"]](call["sensor"], call["delay"])
        if "cancel_after" in call:
            task = asyncio.ensure_future(pending)
            await asyncio.sleep(call["cancel_after"])
            task.cancel()
            pending = task
        got: tuple[str, Any] = ("value", await pending)
    except (Exception, asyncio.CancelledError) as exc:
        got = ("raises", exc)
    return _outcome(call, got, time.perf_counter() - started)


async def _gather(functions: dict[str, Any], calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(_async_call(functions, c) for c in calls)))


def _looks(functions: dict[str, Any]) -> dict[str, bool]:
    sync, coroutine = functions["read_sensor"], functions["fetch"]
    return {
        "name": getattr(sync, "__name__", None) == "read_sensor",
        "doc": getattr(sync, "__doc__", None) == read_sensor.__doc__,
        "wrapped": getattr(sync, "__wrapped__", None) is read_sensor,
        "coroutine function": inspect.iscoroutinefunction(coroutine),
        "coroutine's name": getattr(coroutine, "__name__", None) == "fetch",
    }


def run(module_file: Path, plan: dict[str, Any]) -> dict[str, Any]:
    """Import the student's module, decorate, make the planned calls; the report."""
    stage = "import"
    try:
        spec = importlib.util.spec_from_file_location(module_file.stem, module_file)
        assert spec is not None and spec.loader is not None, f"cannot load {module_file.name}"
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_file.stem] = module
        spec.loader.exec_module(module)
        stage = "decorate"
        functions = _decorate(module.instrumented)
        stage = "call"
        calls = plan["calls"]
        report = [_sync_call(functions, c) for c in calls if c["how"] == "sync"]
        with ThreadPoolExecutor(THREADS) as pool:
            threaded = [c for c in calls if c["how"] == "thread"]
            report += list(pool.map(lambda c: _sync_call(functions, c), threaded))
        report += asyncio.run(_gather(functions, [c for c in calls if c["how"] == "async"]))
        looks = _looks(functions)
    except Exception as exc:
        return {"ok": False, "stage": stage, "error": f"{type(exc).__name__}: {exc}"[:2000]}
    return {"ok": True, "calls": report, "looks": looks}


def main(module_file: Path, plan: dict[str, Any]) -> None:
    """Run the plan with the student's prints on stderr and the report alone on stdout."""
    report_fd = os.dup(1)
    os.dup2(2, 1)
    report = run(module_file, plan)
    sys.stdout.flush()
    with os.fdopen(report_fd, "w") as out:
        out.write(json.dumps(report, default=repr) + "\n")
    time.sleep(plan.get("linger", 0))  # a service that keeps running a while after its calls
    # Returning ends the interpreter the usual way: atexit handlers run after this.
