"""Check outcomes, the report, and the formats it is written in.

An infrastructure error (a service failed, or the grader itself did) is its
own outcome: it is shown, it makes the run "needs regrading", and it never
counts against the student's score.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

# The version of the report's JSON (to_dict); documented on the instructor page.
REPORT_SCHEMA = 1


class Outcome(StrEnum):
    PASSED = "passed"
    PARTIAL = "partial"
    FAILED = "failed"
    INFRA_ERROR = "infra-error"


@dataclass
class Part:
    """One scored piece of a check."""

    name: str
    points: float
    passed: bool
    feedback: str = ""


@dataclass
class CheckResult:
    """The outcome of one check for one submission."""

    check: str
    title: str
    max_points: float
    points: float = 0.0
    outcome: Outcome = Outcome.FAILED
    feedback: str = ""
    parts: list[Part] = field(default_factory=list)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        # Points are floats everywhere (JSON, CSV), whatever arithmetic produced them.
        self.max_points, self.points = float(self.max_points), float(self.points)

    @property
    def gradable(self) -> bool:
        return self.outcome != Outcome.INFRA_ERROR

    @property
    def lost_points(self) -> bool:
        """Graded, and short of full marks: the student's doing, not the services'."""
        return self.gradable and self.points < self.max_points

    def score(self, failure: str | None = None) -> None:
        """Points, outcome and feedback from the parts and the check's own failure, if any.

        Every point belongs to a part: passed parts earn theirs, and a failure (an
        ``expect`` or an assertion) costs the parts it kept from being tried. A check
        without parts is all or nothing. Pure: no pytest, no servers.
        """
        if self.parts:
            earned = sum(p.points for p in self.parts if p.passed)
        else:
            earned = self.max_points if failure is None else 0.0
        notes = [p.feedback for p in self.parts if not p.passed]
        if failure is not None:
            notes.append(failure)
        self.points = float(round(min(earned, self.max_points), 2))
        self.feedback = "\n\n".join(n for n in notes if n)
        if self.points >= self.max_points:
            self.outcome = Outcome.PASSED
        elif self.points > 0:
            self.outcome = Outcome.PARTIAL
        else:
            self.outcome = Outcome.FAILED

    def infra_error(self, why: str) -> None:
        """Not the student's doing: no points either way, and a regrade is needed."""
        self.outcome = Outcome.INFRA_ERROR
        self.feedback = why

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = str(self.outcome)
        data["gradable"] = self.gradable
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        data = {k: v for k, v in data.items() if k != "gradable"}
        data["outcome"] = Outcome(data["outcome"])
        data["parts"] = [Part(**p) for p in data.get("parts", [])]
        return cls(**data)


@dataclass
class Report:
    """All checks of one lab for one submission."""

    lab: str
    submission: str
    backend: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    isolation: str = ""  # how the student's code was contained, in words

    @property
    def score(self) -> float:
        return round(sum(c.points for c in self.checks if c.gradable), 2)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_points for c in self.checks if c.gradable), 2)

    @property
    def infra_errors(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.gradable]

    @property
    def full_marks(self) -> bool:
        return bool(self.checks) and not self.infra_errors and self.score == self.max_score

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "lab": self.lab,
            "submission": self.submission,
            "backend": self.backend,
            "isolation": self.isolation,
            "score": self.score,
            "max_score": self.max_score,
            "needs_regrade": bool(self.infra_errors),
            "checks": [c.to_dict() for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """The inverse of :meth:`to_dict` (score and flags recomputed from the checks);
        ValueError for another schema version."""
        if data.get("schema") != REPORT_SCHEMA:
            raise ValueError(f"report schema {data.get('schema')!r}, not {REPORT_SCHEMA}")
        names = {f.name for f in fields(cls)} - {"checks"}
        report = cls(**{k: v for k, v in data.items() if k in names})
        report.checks = [CheckResult.from_dict(c) for c in data["checks"]]
        return report

    def to_gradescope(self) -> dict[str, Any]:
        """Gradescope's results.json; infrastructure errors score 0 of 0 and say so."""
        tests = []
        for c in self.checks:
            output = c.feedback or "ok"
            if not c.gradable:
                output = f"Infrastructure error, not your fault; ask for a regrade.\n{c.feedback}"
            tests.append(
                {
                    "name": c.title,
                    "score": c.points,
                    "max_score": c.max_points if c.gradable else 0,
                    "status": "passed" if c.outcome == Outcome.PASSED else "failed",
                    "output": output,
                    "visibility": "visible",
                }
            )
        return {"score": self.score, "tests": tests}

    @classmethod
    def load_jsonl(cls, path: Path, lab: str, submission: str, backend: str) -> Report:
        """Read the results a grading run wrote one line at a time (a crash keeps the lines).

        The run's first line is its plan: every check the lab has, written when
        pytest collected them. A planned check with no result line never
        finished (its run died or was killed): it is an infrastructure error,
        so a report is never complete, nor full marks, without all the checks.
        """
        report = cls(lab, submission, backend)
        if not path.exists():
            return report
        plan: list[dict[str, Any]] = []
        done: dict[str, CheckResult] = {}
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            data = json.loads(line)
            if "plan" in data:
                plan = data["plan"]
                report.isolation = str(data.get("isolation", ""))
            else:
                result = CheckResult.from_dict(data)
                done[result.check] = result
        for planned in plan:
            if planned["check"] not in done:
                done[planned["check"]] = CheckResult(
                    planned["check"],
                    planned["title"],
                    planned["max_points"],
                    outcome=Outcome.INFRA_ERROR,
                    feedback="this check never reported a result: the grading run ended "
                    "before it finished (not your fault; it needs a regrade)",
                )
        order = [p["check"] for p in plan]
        report.checks = sorted(
            done.values(), key=lambda c: order.index(c.check) if c.check in order else len(order)
        )
        return report
