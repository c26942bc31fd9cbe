"""What ``grader class`` needs besides the grading runs themselves: which student-labs there
are, whether a stored report can be reused, and the class-wide outputs (gradebook CSV,
per-report JSON, JUnit XML, summary), each written atomically.

Nothing here starts a server or a pytest run, so all of it is unit-tested with
hand-made reports. Two layouts are understood:

- one lab: ``SUBMISSIONS/STUDENT/`` holds that lab's files (``grader class LAB DIR``);
- nested: ``SUBMISSIONS/STUDENT/LAB/`` (``grader class DIR``); every lab found in any
  student's folder is graded for everyone, and a student without it gets a "missing"
  entry worth 0 points (not a regrade: there is nothing to grade).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import statistics
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .labs import LABS, Lab, get_lab
from .results import CheckResult, Report

GRADER_DIR = Path(__file__).resolve().parent
FIXED_COLUMNS = ["student", "score", "max_score", "needs_regrade"]


def ignored(name: str) -> bool:
    """Folders that archives and tools add next to the students' (.git, __MACOSX, ...), and
    node_modules, which a grading never uses (a JavaScript lab runs with its own)."""
    return name.startswith((".", "__")) or name == "node_modules"


# -- layouts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One student's submission for one lab; ``folder`` is None when the student has none."""

    student: str
    lab: str
    folder: Path | None


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not ignored(p.name))


def _lab_named(name: str) -> str | None:
    try:
        return get_lab(name).name
    except KeyError:
        return None


def discover(root: Path, lab: str | None = None) -> list[Task]:
    """The student-labs under ``root``: one lab's layout when ``lab`` is given, else nested.

    In the nested layout, sub-folders that name no lab are left alone (notes, old
    attempts); an empty result means the layout is not what the caller said.
    """
    students = _subfolders(root)
    if lab is not None:
        return [Task(s.name, lab, s) for s in students]
    found = {
        s.name: {lab: p for p in _subfolders(s) if (lab := _lab_named(p.name))} for s in students
    }
    labs = [name for name in LABS if any(name in by_lab for by_lab in found.values())]
    return [Task(s, name, found[s].get(name)) for s in found for name in labs]


# -- fingerprints and reuse ----------------------------------------------------------


def _tree_digest(folder: Path, digest: Any) -> None:
    """Feed every file under ``folder`` (relative path and content) into ``digest``.

    Dot files and dot/dunder folders (``.git``, ``__pycache__``, ``__MACOSX``) are not
    part of a submission; dunder *files* such as ``__init__.py`` are, since they change
    what gets imported. Symbolic links count by their target, not what they point to,
    and anything that is not a regular file (a FIFO would block) or cannot be read
    counts by its name only: the grading run will say what is wrong with it.
    """
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not ignored(d))
        for name in sorted(f for f in files if not f.startswith(".")):
            path = Path(top, name)
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            if path.is_symlink():
                digest.update(b"link:" + os.readlink(path).encode())
            elif path.is_file():
                try:
                    with path.open("rb") as fh:
                        digest.update(hashlib.file_digest(fh, "sha256").digest())
                except OSError as exc:
                    digest.update(f"unreadable:{exc.errno}".encode())
            else:
                digest.update(b"special")
            digest.update(b"\0")


@functools.cache
def grader_digest() -> str:
    """The grader's own code (``grader/*.py`` and the JavaScript runner): changing it makes
    every stored report stale.

    The list of labs is left out (a lab's own entry is part of its fingerprint), so that
    adding a lab does not make every other lab's reports stale: re-grading a class, or
    the hours of a mutation analysis, for nothing."""
    digest = hashlib.sha256()
    for path in sorted([*GRADER_DIR.glob("*.py"), *GRADER_DIR.glob("*.mjs")]):
        if path.name != "labs.py":
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(folder: Path | None, lab: Lab, settings: str = "") -> str:
    """What a report was graded from: the submission's files, the lab's checks, the grader's
    code and the ``settings`` that change outcomes (e.g. the call timeout)."""
    digest = hashlib.sha256()
    entry = f"{lab.name} {lab.module} {lab.servers}"
    for part in (entry, settings, grader_digest(), lab.checks.read_text()):
        digest.update(part.encode() + b"\0")
    if lab.packages is not None:  # the pinned packages the code runs with
        digest.update((lab.packages.parent / "package-lock.json").read_bytes() + b"\0")
    if folder is None:
        digest.update(b"missing")
    else:
        _tree_digest(folder, digest)
    return "sha256:" + digest.hexdigest()


@dataclass
class Entry:
    """A student-lab's result: graded now, reused from a stored report, or missing."""

    task: Task
    report: Report
    fingerprint: str = ""
    reused: bool = False

    @property
    def missing(self) -> bool:
        return self.task.folder is None

    @property
    def needs_regrade(self) -> bool:
        """No results at all, or an infrastructure error: the grade is not final."""
        return not self.missing and (not self.report.checks or bool(self.report.infra_errors))

    def to_dict(self) -> dict[str, Any]:
        return {
            "student": self.task.student,
            **self.report.to_dict(),
            "needs_regrade": self.needs_regrade,
            "missing": self.missing,
            "fingerprint": self.fingerprint,
        }


def missing_entry(task: Task) -> Entry:
    """A lab the student did not hand in: 0 points, nothing to regrade."""
    return Entry(task, Report(task.lab, ""))


def report_path(reports: Path, task: Task, suffix: str = ".json") -> Path:
    return reports / task.student / f"{task.lab}{suffix}"


def reusable(reports: Path, task: Task, fingerprint: str) -> Entry | None:
    """The stored entry for ``task`` if it was graded from the same files and is final."""
    try:
        data = json.loads(report_path(reports, task).read_text())
        entry = Entry(task, Report.from_dict(data), data["fingerprint"], reused=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # never written, from an older format, or edited by hand
    if entry.fingerprint != fingerprint or entry.needs_regrade:
        return None
    return entry


def plan(
    tasks: list[Task], reports: Path, settings: str, *, fresh: bool = False
) -> tuple[dict[Task, Entry], dict[Task, str]]:
    """Split the class into what needs no grading run (missing labs, and stored reports
    still valid unless ``fresh``) and what does, with the fingerprint each will get."""
    entries: dict[Task, Entry] = {}
    todo: dict[Task, str] = {}
    for task in tasks:
        if task.folder is None:
            entries[task] = missing_entry(task)
            continue
        digest = fingerprint(task.folder, get_lab(task.lab), settings)
        stored = None if fresh else reusable(reports, task, digest)
        if stored:
            entries[task] = stored
        else:
            todo[task] = digest
    # Longest first: a slow lab started last would leave the other workers idle at the end.
    order = sorted(todo, key=lambda t: get_lab(t.lab).seconds, reverse=True)
    return entries, {task: todo[task] for task in order}


# -- writing -------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it; done once, at import, before any thread
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give: temporary files are 0600


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` in one step: a reader (or a kill) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_entry(reports: Path, entry: Entry, output: str = "") -> None:
    """``STUDENT/LAB.json`` (the full report and its fingerprint), ``LAB.results.json``
    (Gradescope), and ``LAB.log``, the grading run's ``output``, while it needs a regrade:
    that is where the reason (a service down, no sandbox) shows."""
    write_atomic(report_path(reports, entry.task), json.dumps(entry.to_dict(), indent=2))
    gradescope = entry.report.to_gradescope()
    if entry.missing:
        gradescope["output"] = "No submission for this lab was found."
    text = json.dumps(gradescope, indent=2)
    write_atomic(report_path(reports, entry.task, ".results.json"), text)
    log = report_path(reports, entry.task, ".log")
    if entry.needs_regrade:
        write_atomic(log, output)
    else:
        log.unlink(missing_ok=True)


def _by_lab(entries: Iterable[Entry]) -> dict[str, list[Entry]]:
    labs: dict[str, list[Entry]] = {}
    for entry in entries:
        labs.setdefault(entry.task.lab, []).append(entry)
    return dict(sorted(labs.items(), key=lambda kv: list(LABS).index(kv[0])))


def _checks_of(entries: list[Entry]) -> list[CheckResult]:
    """Every check of a lab once, in the order the lab declares them."""
    seen: dict[str, CheckResult] = {}
    for entry in entries:
        for check in entry.report.checks:
            seen.setdefault(check.check, check)
    return list(seen.values())


def lab_max(entries: list[Entry]) -> float:
    """A lab's full marks, from the students it was graded for (infra errors included)."""
    return round(sum(c.max_points for c in _checks_of(entries)), 2)


def gradebook_csv(tasks: list[Task], entries: dict[Task, Entry]) -> str:
    """One row per student: totals, then each lab's score followed by its checks' points.

    A missing lab scores 0 of that lab's full marks, so every finished row has the
    same ``max_score``; a check with an infrastructure error has no points (blank), not 0.
    ``needs_regrade`` is ``yes`` when some lab needs one, and ``pending`` while some of
    the student's labs are not graded yet (an interrupted run).
    """
    labs = _by_lab(entries.values())
    checks = {lab: [c.check for c in _checks_of(group)] for lab, group in labs.items()}
    full = {lab: lab_max(group) for lab, group in labs.items()}
    columns = [col for lab in labs for col in (lab, *(f"{lab}/{c}" for c in checks[lab]))]
    students: dict[str, list[Task]] = {}
    for task in tasks:
        students.setdefault(task.student, []).append(task)

    out = io.StringIO()
    writer = csv.DictWriter(out, FIXED_COLUMNS + columns, lineterminator="\n")
    writer.writeheader()
    for student, own in students.items():
        done = [entries[t] for t in own if t in entries]
        flag = "no"
        if any(e.needs_regrade for e in done):
            flag = "yes"
        elif len(done) < len(own):
            flag = "pending"
        score = sum(e.report.score for e in done)
        maximum = sum(full[e.task.lab] if e.missing else e.report.max_score for e in done)
        row: dict[str, Any] = {
            "student": student,
            "score": float(round(score, 2)),
            "max_score": float(round(maximum, 2)),
            "needs_regrade": flag,
        }
        for entry in done:
            lab = entry.task.lab
            points = {c.check: c.points for c in entry.report.checks if c.gradable}
            row[lab] = float(entry.report.score)
            for check in checks[lab]:
                row[f"{lab}/{check}"] = 0.0 if entry.missing else points.get(check, "")
        writer.writerow(row)
    return out.getvalue()


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def junit_xml(entries: Iterable[Entry]) -> str:
    """JUnit XML for CI dashboards: a testsuite per student-lab, a testcase per check.

    Lost points are a failure; an infrastructure error is an error (never a pass); a
    run with no results, or a missing lab, is one testcase saying so.
    """
    root = ET.Element("testsuites", name="grader class")
    for entry in sorted(entries, key=lambda e: (e.task.student, list(LABS).index(e.task.lab))):
        cases: list[tuple[str, float, str, str]] = []  # name, seconds, kind, feedback
        for c in entry.report.checks:
            kind = "error" if not c.gradable else "failure" if c.points < c.max_points else ""
            text = f"{c.points:g}/{c.max_points:g} points\n{c.feedback}".strip()
            cases.append((c.check, c.seconds, kind, text))
        if entry.missing:
            cases.append(("submission", 0.0, "failure", "no submission for this lab"))
        elif not entry.report.checks:
            cases.append(("grading run", 0.0, "error", "the grading run produced no results"))

        suite = ET.SubElement(root, "testsuite", name=f"{entry.task.student}/{entry.task.lab}")
        suite.attrib.update(
            tests=str(len(cases)),
            failures=str(sum(kind == "failure" for _, _, kind, _ in cases)),
            errors=str(sum(kind == "error" for _, _, kind, _ in cases)),
            skipped="0",
            time=f"{sum(seconds for _, seconds, _, _ in cases):.3f}",
        )
        classname = f"{entry.task.student}.{entry.task.lab}"
        for name, seconds, kind, text in cases:
            case = ET.SubElement(suite, "testcase", name=name, classname=classname)
            case.set("time", f"{seconds:.3f}")
            if kind:
                lines = text.splitlines()
                message = lines[1] if len(lines) > 1 else lines[0]  # the first feedback line
                ET.SubElement(case, kind, message=message, type=kind).text = text
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


# -- summary -------------------------------------------------------------------------


@dataclass
class CheckSummary:
    check: str
    max_points: float
    graded: int  # students for whom the check could be graded (no infrastructure error)
    lost: int  # of those, how many lost points on it
    feedback: str  # the most common first feedback line among them
    feedback_count: int  # how many of them got that line


@dataclass
class LabSummary:
    """A lab's results over the class; score statistics count final grades only."""

    lab: str
    max_score: float
    scores: list[float]  # final: neither missing nor needing a regrade
    missing: int
    needs_regrade: int
    reused: int
    checks: list[CheckSummary]

    def histogram(self) -> list[int]:
        """How many scores fall in each tenth of the full marks (full marks in the last)."""
        bins = [0] * 10
        for score in self.scores:
            share = score / self.max_score if self.max_score else 1.0
            bins[min(int(share * 10), 9)] += 1
        return bins


def _check_summary(check: CheckResult, present: list[Entry]) -> CheckSummary:
    results = [c for e in present for c in e.report.checks if c.check == check.check and c.gradable]
    lost = [c for c in results if c.points < c.max_points]
    lines = Counter(_first_line(c.feedback) or "(no feedback)" for c in lost)
    line, count = lines.most_common(1)[0] if lines else ("", 0)
    return CheckSummary(check.check, check.max_points, len(results), len(lost), line, count)


def summarize(entries: Iterable[Entry]) -> list[LabSummary]:
    """Per lab: the final scores, what is missing or needs a regrade, and per check who
    lost points and the feedback they most often got (what to explain again in class)."""
    summaries = []
    for lab, group in _by_lab(entries).items():
        present = [e for e in group if not e.missing]
        summaries.append(
            LabSummary(
                lab=lab,
                max_score=lab_max(group),
                scores=[e.report.score for e in present if not e.needs_regrade],
                missing=len(group) - len(present),
                needs_regrade=sum(e.needs_regrade for e in group),
                reused=sum(e.reused for e in group),
                checks=[_check_summary(c, present) for c in _checks_of(group)],
            )
        )
    return summaries


def _cell(text: str, width: int = 90) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def summary_markdown(summaries: list[LabSummary]) -> str:
    """The class summary as Markdown: readable as it is in a terminal, and as a page."""
    out = ["# Class summary", ""]
    for s in summaries:
        out += [f"## {s.lab} (out of {s.max_score:g})", ""]
        notes = [f"{s.needs_regrade} need a regrade", f"{s.missing} missing"]
        if s.reused:
            notes.append(f"{s.reused} reused from an earlier run")
        out += [", ".join(notes) + ".", ""]
        if s.scores:
            stats = (
                len(s.scores),
                min(s.scores),
                statistics.median(s.scores),
                statistics.fmean(s.scores),
                max(s.scores),
            )
            out += [
                "| n | min | median | mean | max |",
                "|--:|--:|--:|--:|--:|",
                "| {} | {:g} | {:g} | {:.1f} | {:g} |".format(*stats),
                "",
                "```text",
            ]
            for tenth, count in enumerate(s.histogram()):
                bar = "#" * count + " " if count else ""
                out.append(f"{f'{tenth * 10}-{tenth * 10 + 10}%':>7} {bar}{count}")
            out += ["```", ""]
        else:
            out += ["No final grades yet.", ""]
        out += [
            "| check | points | lost points | most common feedback |",
            "|---|--:|--:|---|",
        ]
        for c in s.checks:
            feedback = f"{_cell(c.feedback)} ({c.feedback_count})" if c.lost else ""
            out.append(f"| {c.check} | {c.max_points:g} | {c.lost}/{c.graded} | {feedback} |")
        out.append("")
    return "\n".join(out)
