"""How an example's Output block on the site is compared with what the live run printed.

The block shows real output, so a reader sees what their own run will print. What
may differ between runs, and so between the page and a reader's machine, is stated
once on the site (reference.md, "Reading the examples") and matched loosely here:

- a date or time (``2026-12-02``, ``2026-12-02T03:59:00Z``,
  ``2026-12-02 03:59:00.123+00:00``) matches any date or time: examples run at
  a different moment on every machine, and the example data ends in the current
  minute;
- an InfluxDB ID (16 hexadecimal digits) matches any ID;
- ``...`` inside a line matches any text on that line (a duration, a value of a
  window that moves with the clock); a line that is only ``...`` matches any
  number of lines, as with doctest's ELLIPSIS;
- spaces at the end of a line and blank lines at the end are ignored.

Everything else (counts, values of the seeded data, messages, status codes) must
be exactly what was printed.
"""

from __future__ import annotations

import difflib
import re

TIME = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
ID = r"(?<![0-9a-f])[0-9a-f]{16}(?![0-9a-f])"
_LOOSE = re.compile(rf"(\.\.\.|{TIME}|{ID})")


def _line_pattern(line: str) -> str:
    if line.strip() == "...":
        return r"(?:[^\n]*\n)*?"
    parts = []
    for token in _LOOSE.split(line):
        if not token:
            continue
        if token == "...":
            parts.append(r"[^\n]*?")
        elif re.fullmatch(TIME, token):
            parts.append(TIME)
        elif re.fullmatch(ID, token):
            parts.append(r"[0-9a-f]{16}")
        else:
            parts.append(re.escape(token))
    return "".join(parts) + r"\n"  # both sides' lines have their trailing spaces removed


def _clean(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def mismatch(expected: str, actual: str) -> str | None:
    """None when ``actual`` is what ``expected`` shows; otherwise a diff to read."""
    want, got = _clean(expected), _clean(actual)
    pattern = "".join(_line_pattern(line) for line in want)
    if re.fullmatch(pattern, "".join(line + "\n" for line in got)):
        return None
    diff = difflib.unified_diff(want, got, "the page's Output block", "the live run", lineterm="")
    return "\n".join(diff)
