"""Runs inside a submission's own process: import the student's module, call one function.

    python -m grader.runner MODULE_FILE FUNCTION RESULT_FILE  < {"args": [...], "kwargs": {...}}

The outcome goes to RESULT_FILE as JSON, never to stdout, so whatever the
student prints cannot be mistaken for a result. Every failure is reported
with the stage it happened in (import, lookup, call, result), which is what
the grader turns into feedback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from grader import codec


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
        except TypeError:
            attrs[key] = repr(value)
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "attrs": attrs,
        "frames": frames[-5:],
    }


def run(module_file: Path, function: str, request: dict[str, Any]) -> dict[str, Any]:
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
        args = codec.decode(request.get("args", []))
        kwargs = codec.decode(request.get("kwargs", {}))
        value = target(*args, **kwargs)

        stage = "result"
        return {"ok": True, "value": codec.encode(value)}
    except BaseException as exc:  # the student's code may raise anything, even SystemExit
        return {"ok": False, "stage": stage, "error": _error(exc, module_file)}


def main() -> None:
    module_file, function, result_file = Path(sys.argv[1]).resolve(), sys.argv[2], sys.argv[3]
    request = json.loads(sys.stdin.read() or "{}")
    outcome = run(module_file, function, request)
    tmp = f"{result_file}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(outcome, fh)
    os.replace(tmp, result_file)
    sys.stdout.flush()
    # Leave at once: a student's non-daemon thread or atexit hook must not hold the result.
    os._exit(0)


if __name__ == "__main__":
    main()
