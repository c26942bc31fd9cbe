"""Grading time per lab for the reference solution, with the services already running.

One native stack serves every run (as an instructor's `--backend external`
run over a class does), so the figure is the grader's own cost per
submission: starting pytest, one child process per call, seeding, checking.

    python benchmarks/bench_grading.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
