"""What check authors use: readable failures and partial credit.

    @pytest.mark.points(4)
    def test_precision(submission, sandbox, grade):
        "Writes with the precision it is given."
        ...
        grade.part("seconds", 2, stored == expected, expected=..., found=..., hint=...)
        expect(result.ok, "write_lines() failed", found=result.explain(), hint="...")

``expect`` stops the check with feedback written for the student; ``grade.part``
records a scored piece and lets the check go on to the next one.
"""

from __future__ import annotations

from typing import Any

from .results import Part
from .submission import CallResult

# Reading back what landed: from 1970 to the last time InfluxDB stores, never `range(start: 0)`,
# which stops at now() and so hides the points a time-zone bug writes hours in the future.
ALL_TIME = "range(start: 0, stop: 2262-04-11T00:00:00Z)"


class CheckFailed(AssertionError):
    """A check's verdict on the student's work, with the feedback to show."""


def feedback(what: str, *, expected: Any = None, found: Any = None, hint: str = "") -> str:
    lines = [what]
    if expected is not None:
        lines.append(f"expected: {expected}")
    if found is not None:
        lines.append(f"found:    {found}")
    if hint:
        lines.append(f"hint:     {hint}")
    return "\n".join(lines)


def expect(
    condition: Any, what: str, *, expected: Any = None, found: Any = None, hint: str = ""
) -> None:
    """Fail the check with readable feedback unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(feedback(what, expected=expected, found=found, hint=hint))


def expect_ok(result: CallResult) -> Any:
    """The value a student's call returned; fails the check, saying why, if it raised."""
    expect(result.ok, f"{result.function}() failed", found=result.explain())
    return result.value


def expect_records(result: CallResult, what: str) -> list[dict]:
    """The list of dicts a student's call returned; fails the check otherwise."""
    records = expect_ok(result)
    expect(
        isinstance(records, list) and all(isinstance(r, dict) for r in records),
        f"{result.function}() should return {what}",
        found=type(records).__name__,
    )
    return records


class Grade:
    """The scored parts of one check (see the module docstring)."""

    def __init__(self) -> None:
        self.parts: list[Part] = []

    def part(
        self,
        name: str,
        points: float,
        passed: Any,
        *,
        expected: Any = None,
        found: Any = None,
        hint: str = "",
    ) -> bool:
        """Record a part worth ``points``; returns whether it passed."""
        ok = bool(passed)
        text = "" if ok else feedback(name, expected=expected, found=found, hint=hint)
        self.parts.append(Part(name, points, ok, text))
        return ok
