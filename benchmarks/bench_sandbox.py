"""What containment costs: a sandbox's start-up, and each call's overhead, contained or not.

    python benchmarks/bench_sandbox.py [--calls 200]

- start-up: ``bwrap ... python -c pass`` against plain ``python -c pass`` (median of 20);
- per call: a trivial function called through the grader's call server, in a
  bubblewrap sandbox and uncontained (``--isolation off``); the server is
  started before timing, as it is for every call after a check's first.

Target: under 50 ms of sandbox overhead per call.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader import isolation
from grader.submission import Runner, Submission


def _median_ms(command: list[str], runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _per_call_ms(folder: Path, choice: str, calls: int) -> tuple[float, float]:
    """(median ms per call, ms for the server's start) over ``calls`` calls."""
    runner = Runner(folder, "lab", choice)
    code = Submission(folder, "lab", {}, runner=runner)
    try:
        started = time.perf_counter()
        assert code.call("answer").value == 42
        first = (time.perf_counter() - started) * 1000
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            code.call("answer")
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000, first
    finally:
        runner.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    if isolation.unavailable():
        print(f"no sandbox here: {isolation.unavailable()}")
        return 1
    print(f"containment: {isolation.describe()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "lab.py").write_text("def answer():\n    return 42\n")
        python = [sys.executable, "-c", "pass"]
        runner = Runner(folder, "lab", "required")
        boxed_python = isolation.bwrap_command(folder, runner.workroot, python)
        plain, boxed = _median_ms(python), _median_ms(boxed_python)
        runner.close()
        print(f"start-up, python -c pass:  plain {plain:6.1f} ms   in a sandbox {boxed:6.1f} ms")
        print(f"  sandbox start-up: {boxed - plain:+.1f} ms")
        contained, first_in = _per_call_ms(folder, "required", args.calls)
        bare, first_out = _per_call_ms(folder, "off", args.calls)
        print(
            f"per call (median of {args.calls}): contained {contained:6.1f} ms   "
            f"uncontained {bare:6.1f} ms   overhead {contained - bare:+.1f} ms (target < 50 ms)"
        )
        print(f"a check's first call (server start): contained {first_in:.0f} ms, "
              f"uncontained {first_out:.0f} ms")  # fmt: skip
    return 0 if contained - bare < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
