"""Grading time of one submission, with the services already running.

One native stack serves every run (as `grader class` does), so the figures
are the grader's own cost: starting pytest, one sandbox per run (reset
between checks), seeding, the student's calls, checking. Printed: each
lab's reference solution graded alone (median of --runs), then one student
with every lab through `grader class` (its default --jobs).

    python benchmarks/bench_grading.py [--runs 3]

Target: one submission x 3 labs under 8 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.cli import external_env, grade
from grader.labs import LABS
from influx_labs.services import NativeStack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with NativeStack() as stack:
        env = external_env(stack.endpoints)
        print(f"grading time of each reference solution, median of {args.runs} runs:")
        ok = True
        for name, lab in LABS.items():
            times, scores = [], set()
            for _ in range(args.runs):
                started = time.perf_counter()
                report, _ = grade(name, lab.solution, "external", env=env)
                times.append(time.perf_counter() - started)
                scores.add((report.score, report.max_score))
            full = all(score == top and top > 0 for score, top in scores)
            ok &= full
            print(
                f"  {name:<14} {statistics.median(times):6.2f}s  "
                f"(min {min(times):.2f}s, max {max(times):.2f}s, {len(report.checks)} checks)"
                f"  score {sorted(scores)}{'' if full else '  NOT FULL MARKS'}"
            )
        with tempfile.TemporaryDirectory() as tmp:
            student = Path(tmp) / "class" / "ada"
            for name, lab in LABS.items():
                shutil.copytree(lab.solution, student / name)
            command = [str(Path(sys.executable).parent / "grader"), "class", str(student.parent)]
            command += ["--csv", str(Path(tmp) / "gradebook.csv"), "--backend", "external"]
            started = time.perf_counter()
            run = subprocess.run(command, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            ok &= run.returncode == 0
            print(f"one student, {len(LABS)} labs, grader class: {seconds:.2f}s (target < 8 s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
