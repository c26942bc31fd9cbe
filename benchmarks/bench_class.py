"""Grading a class: N students each submitting every lab's reference solution.

    python benchmarks/bench_class.py [--students 30] [--jobs 1 --jobs 0]

Lays out ``STUDENT/LAB/`` copies of every lab's solution, starts one native
stack, and runs ``grader class FOLDER --backend external --fresh`` for each
``--jobs`` value (0 means the command's default: the number of cores). Prints
the wall time of each run and checks every student got full marks.

Target on the 2-core build machine: 30 students x 3 labs in under 4 minutes
with the default jobs.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.cli import external_env
from grader.labs import LABS
from influx_labs.services import NativeStack

GRADER = str(Path(sys.executable).parent / "grader")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, action="append", help="0: the default")
    args = parser.parse_args()
    jobs_list = args.jobs or [1, 0]
    ok = True
    with tempfile.TemporaryDirectory() as tmp, NativeStack() as stack:
        root = Path(tmp) / "class"
        for i in range(args.students):
            for lab in LABS.values():
                shutil.copytree(lab.solution, root / f"student{i:02d}" / lab.name)
        env = external_env(stack.endpoints)
        gradings = args.students * len(LABS)
        print(f"{args.students} students x {len(LABS)} labs = {gradings} gradings, cores: "
              f"{os.cpu_count()}")  # fmt: skip
        for jobs in jobs_list:
            gradebook = Path(tmp) / f"gradebook-{jobs}.csv"
            command = [GRADER, "class", str(root), "--csv", str(gradebook)]
            command += ["--backend", "external", "--fresh"]
            command += ["--jobs", str(jobs)] if jobs else []
            started = time.perf_counter()
            run = subprocess.run(command, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            rows = list(csv.DictReader(gradebook.read_text().splitlines()))
            full = sum(r["score"] == r["max_score"] and r["needs_regrade"] == "no" for r in rows)
            ok &= run.returncode == 0 and full == args.students
            label = jobs or f"default ({os.cpu_count()})"
            print(
                f"  --jobs {label}: {seconds:6.1f} s  ({seconds / gradings:.2f} s per grading), "
                f"{full}/{args.students} students full marks, exit {run.returncode}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
