"""Code blocks of the course site, found the way an author writes them.

Convention (also in README, "Writing course pages"):
- every fenced block in ``python``, ``flux``, ``bash`` or ``javascript`` is run
  by the test suite against live servers; ``csharp`` blocks are not run (no .NET
  here) but every InfluxDB.Client name they use must be a real API member;
- the blocks of one page run in order and share state: Python blocks outside
  content tabs share one namespace, so a later block may use a client an earlier
  one opened;
- an HTML comment on the line before a block changes that:
  ``<!-- example: skip reason="..." -->`` (not run; the reason is reported),
  ``<!-- example: expect-error -->`` (must fail, e.g. a spot-the-bug block);
- blocks may sit inside content tabs (indented); indentation is removed. A block
  in a tab runs on its own (Python: in a fresh namespace), so that a reader can
  copy any one tab and run it;
- a ``text`` block titled ``Output`` right after a runnable block (only blank
  lines between) is what that block printed; the harness compares it with the
  live run (tests/docs/output.py says what may differ: times, IDs, ``...``), and
  an example that prints must have one;
- code other than Flux reads the bucket from INFLUXDB_V2_BUCKET; Flux names `labs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
RUN = {"python", "flux", "bash", "javascript"}
CHECKED = {"csharp"}
# What an Output block may follow: a Flux query prints nothing; its tables are the
# Data Explorer's to show.
PRINTING = RUN - {"flux"}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)(?P<rest>.*)$")
_TAB = re.compile(r'^(?P<indent>[ \t]*)===\+?\s+"(?P<label>[^"]*)"')
_OUTPUT_TITLE = re.compile(r'title="Output"')
_MARK = re.compile(r"<!--\s*example:\s*(?P<what>[\w-]+)(?:\s+reason=\"(?P<reason>[^\"]*)\")?\s*-->")


@dataclass(frozen=True)
class Example:
    page: str  # path below docs/
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    mode: str = "run"  # run | skip | expect-error | check
    reason: str = ""
    tab: str = ""  # the label of the content tab the block sits in, if any
    output: str | None = None  # the Output block that follows it, if any

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}:{self.lang}"


def _marker(lines: list[str], index: int) -> tuple[str, str]:
    for previous in reversed(lines[:index]):
        if previous.strip():
            found = _MARK.search(previous)
            return (found.group("what"), found.group("reason") or "") if found else ("", "")
    return "", ""


def _tab(lines: list[str], index: int, indent: str) -> str:
    """The label of the content tab an indented block at ``index`` belongs to."""
    for previous in reversed(lines[:index]):
        if not previous.strip():
            continue
        depth = len(previous) - len(previous.lstrip())
        if depth < len(indent):
            tab = _TAB.match(previous)
            return tab["label"] if tab else ""
    return ""


def _fenced(lines: list[str], i: int) -> tuple[re.Match[str], list[str], int] | None:
    """The fence opening at line ``i``: its match, its body and the index of its close."""
    match = _FENCE.match(lines[i])
    if not match:
        return None
    indent, ticks = match["indent"], match["ticks"]
    body, j = [], i + 1
    while j < len(lines) and not (
        lines[j].startswith(indent)
        and lines[j].strip().startswith(ticks)
        and lines[j].strip().strip(ticks[0]) == ""
    ):
        body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
        j += 1
    return match, body, j


def _output_after(lines: list[str], j: int) -> str | None:
    """The text of an ``Output`` block that follows the fence closing at ``j``."""
    k = j + 1
    while k < len(lines) and not lines[k].strip():
        k += 1
    found = _fenced(lines, k) if k < len(lines) else None
    if found and found[0]["lang"] == "text" and _OUTPUT_TITLE.search(found[0]["rest"]):
        return "\n".join(found[1]) + "\n"
    return None


def page_examples(path: Path, docs: Path = DOCS) -> list[Example]:
    """Every fenced code block of one page, with how it is to be treated."""
    lines = path.read_text(encoding="utf-8").splitlines()
    examples, i = [], 0
    while i < len(lines):
        found = _fenced(lines, i)
        if not found:
            i += 1
            continue
        match, body, j = found
        indent, lang = match["indent"], match["lang"].lower()
        what, reason = _marker(lines, i)
        lang = {
            "py": "python",
            "js": "javascript",
            "sh": "bash",
            "shell": "bash",
            "cs": "csharp",
            "c#": "csharp",
        }.get(lang, lang)
        if lang in RUN or lang in CHECKED:
            mode = "check" if lang in CHECKED else (what or "run")
            if mode not in ("run", "skip", "expect-error", "check"):
                raise ValueError(f"{path}:{i + 1}: unknown example marker {what!r}")
            output = _output_after(lines, j)
            if output is not None and lang not in PRINTING:
                raise ValueError(
                    f"{path}:{i + 1}: an Output block is compared only after a "
                    f"{', '.join(sorted(PRINTING))} block"
                )
            examples.append(
                Example(
                    page=str(path.relative_to(docs)),
                    line=i + 1,
                    lang=lang,
                    code="\n".join(body) + "\n",
                    mode=mode,
                    reason=reason,
                    tab=_tab(lines, i, indent),
                    output=output,
                )
            )
        i = j + 1
    return examples


def all_examples() -> list[Example]:
    return [e for page in sorted(DOCS.rglob("*.md")) for e in page_examples(page)]
