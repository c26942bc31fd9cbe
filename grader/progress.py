"""A student's progress: the last grade of each lab, kept by ``grader check``.

Each ``grader check`` stores its report (the same JSON as ``--json``, with the time
it was graded) as ``LAB.json`` in the grades folder: ``.influx-labs/grades`` in the
repository, or ``$INFLUX_LABS_GRADES``. ``grader progress`` (``./course progress``)
reads them back: one row per lab, in the course's order, never graded labs included.
A stored report that cannot be read is shown as such, never as a grade.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .classroom import write_atomic
from .labs import LABS, REPO_ROOT
from .results import Report


def grades_dir() -> Path:
    """Where the last grade of each lab is kept."""
    return Path(os.environ.get("INFLUX_LABS_GRADES") or REPO_ROOT / ".influx-labs" / "grades")


def save(report: Report) -> Path:
    """Keep ``report`` as its lab's last grade."""
    data = {**report.to_dict(), "graded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    path = grades_dir() / f"{report.lab}.json"
    write_atomic(path, json.dumps(data, indent=2))
    return path


@dataclass(frozen=True)
class Progress:
    """One lab's line: its last grade, or why there is none."""

    lab: str
    title: str
    report: Report | None = None
    graded_at: datetime | None = None
    problem: str = ""  # a stored grade that could not be read

    @property
    def status(self) -> str:
        if self.problem:
            return f"unreadable grade: {self.problem}"
        if self.report is None:
            return "not graded yet"
        if self.report.infra_errors:
            return f"{len(self.report.infra_errors)} check(s) to grade again (services down)"
        if self.report.full_marks:
            return "full marks"
        lost = [c for c in self.report.checks if c.lost_points]
        return f"{len(lost)} check(s) losing points"

    def to_dict(self) -> dict:
        report = self.report
        return {
            "lab": self.lab,
            "title": self.title,
            "status": self.status,
            "score": report.score if report else None,
            "max_score": report.max_score if report else None,
            "submission": report.submission if report else None,
            "graded_at": self.graded_at.isoformat() if self.graded_at else None,
        }


def load() -> list[Progress]:
    """Every lab, in the course's order, with its last stored grade if it has one."""
    folder = grades_dir()
    rows = []
    for lab in LABS.values():
        path = folder / f"{lab.name}.json"
        if not path.exists():
            rows.append(Progress(lab.name, lab.title))
            continue
        try:
            data = json.loads(path.read_text())
            report = Report.from_dict(data)
            when = datetime.fromisoformat(data["graded_at"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            rows.append(Progress(lab.name, lab.title, problem=f"{path.name}: {exc}"))
            continue
        rows.append(Progress(lab.name, lab.title, report, when))
    return rows
