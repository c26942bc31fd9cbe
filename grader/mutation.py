"""Mutation analysis of a lab's checks: how many realistic bugs in the reference solution
do the checks catch?

A mutant is the solution with one small change to its code: a Python module, one code cell
of a notebook, or a JavaScript module. Python code has two sources of changes:

- cosmic-ray's own operators (comparisons, arithmetic, boolean logic, numbers, exception
  handlers, loops), applied through its API one occurrence at a time;
- this field's operators (``FIELD_RULES``): time zones and write precisions, integer and
  float field types, tags and fields swapped, MQTT QoS and topic filters, a Flux step
  dropped, a close or flush removed, retries and exception handlers narrowed or widened,
  an error returned instead of raised.

JavaScript gets StrykerJS's mutators (literals, conditions, operators, blocks emptied,
method calls), from its own instrumenter.

Mutants that do not compile, repeat another, or differ from the solution only in type
annotations (not evaluated under ``from __future__ import annotations``) or docstrings
are dropped before grading. Each remaining mutant is graded like a student's submission
(``grader mutate``); it is *killed* when it loses a point, *survives* with full marks.
Survivors that no program could tell apart from the solution are listed by hand in
``equivalent_mutants.toml`` with one line of reason each, and left out of the score.
"""

from __future__ import annotations

import ast
import copy
import difflib
import io
import json
import re
import subprocess
import tokenize
import tomllib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .classroom import Entry
from .runner import JAVASCRIPT, NOTEBOOK

EQUIVALENTS = Path(__file__).with_name("equivalent_mutants.toml")
JS_MUTANTS = Path(__file__).with_name("js_mutants")  # StrykerJS's instrumenter, pinned
# cosmic-ray's VariableReplacer and VariableInserter draw at random: not repeatable.
SKIPPED_CORE = ("VariableReplacer", "VariableInserter")


@dataclass(frozen=True)
class Rule:
    """A field operator: each match of ``pattern`` outside comments and docstrings is
    replaced by each of ``replacements`` (``re`` templates), one mutant per pair."""

    operator: str
    pattern: str
    replacements: tuple[str, ...]
    flags: int = 0


def _swaps(operator: str, values: set[str], pattern: str, text: str) -> list[Rule]:
    """One rule per value: where ``pattern`` finds it, each other value in its place."""
    return [
        Rule(operator, pattern.format(re.escape(v)), tuple(text.format(o) for o in values - {v}))
        for v in values
    ]


FIELD_RULES: list[Rule] = [
    # Time zones: an aware time becomes naive (local on a student's machine).
    Rule("time-zone", r"\.now\((?:UTC|timezone\.utc|tz=[^()]+)\)", (".now()",)),
    Rule("time-zone", r"\.fromtimestamp\(([^,()]+),\s*(?:tz=)?[\w.]+\)", (r".fromtimestamp(\1)",)),
    Rule("time-zone", r'\.replace\("Z", "\+00:00"\)', ("",)),
    Rule("time-zone", r"\.astimezone\([^()]*\)", (".replace(tzinfo=None)",)),
    # Write precisions, as strings and as WritePrecision members.
    *_swaps("precision", {"ns", "us", "ms", "s"}, '"{}"', '"{}"'),
    *_swaps("precision", {"NS", "US", "MS", "S"}, r"WritePrecision\.{}\b", "WritePrecision.{}"),
    # Field types: the conversion swapped or left out.
    Rule("field-type", r"\bfloat\(", ("int(", "(")),
    Rule("field-type", r"\bint\(", ("float(", "(")),
    # A tag written as a field, a field as a tag.
    Rule("tag-field-swap", r"\.tag\(", (".field(",)),
    Rule("tag-field-swap", r"\.field\(", (".tag(",)),
    # MQTT: the QoS asked for, a topic filter wider or narrower than the contract's.
    *_swaps("qos", {"0", "1", "2"}, r"\bqos={}", "qos={}"),
    Rule("topic-filter", r"/\+/[\w-]+", ("/#", "/device-1/telemetry")),
    # Flux: one step of a pipeline dropped (group(), pivot(), filter()...), or range's stop.
    Rule("flux-step", r"\n[ \t]*\|> *\w+\(.*\)(?=\n)", ("",)),
    Rule("flux-range", r"(range\(start: *[\w.-]+), *stop: *[\w.-]+\)", (r"\1)",)),
    # Resources: a close() or flush() that sends what is buffered, removed.
    Rule("close-flush", r"^([ \t]*)[\w.()]+\.(?:close|flush)\(\)[ \t]*$", (r"\1pass",), re.M),
    # Writes: the synchronous mode dropped (the default batching writer buffers in the
    # background), and a keyword argument left out (precision, tag columns, params...).
    Rule("write-mode", r"\(write_options=SYNCHRONOUS\)", ("()",)),
    Rule("argument-dropped", r",[ \t]*(?!timeout=)\w+=[\w.\[\]\"' ]+(?=\))", ("",)),
    Rule("argument-dropped", r"\n[ \t]+(?!timeout=)\w+=[^\n]+,(?=\n)", ("",)),
    # Retries and error handling.
    Rule("retry", r"\bmax_retries=\d+", ("max_retries=0",)),
    Rule("except-narrowed", r"except \(([\w.]+), [\w., ]+\)", (r"except \1",)),
    Rule("except-widened", r"except (?!Exception\b)[\w.]+(?=[ :])", ("except Exception",)),
    Rule("error-returned", r"^([ \t]*)raise (.+?)(?: from \w+)?$", (r"\1return \2",), re.M),
]


@dataclass(frozen=True)
class Mutant:
    """One changed copy of a solution file."""

    id: str
    file: str
    operator: str
    line: int
    before: str  # the changed lines of the solution, stripped and joined by " / "
    after: str  # what they became
    code: str = field(repr=False)  # the whole changed file
    cell: int | None = None  # in a notebook: the code cell changed, ``line`` counts in it

    @property
    def key(self) -> tuple[str, int | None, str, str]:
        """What names a mutant in the equivalents file, whatever its line number."""
        return self.file, self.cell, self.before, self.after

    @property
    def where(self) -> str:
        """file:line, or file:cell N:line in a notebook."""
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.file}:{cell}{self.line}"


def _docstring(node: ast.AST) -> ast.Expr | None:
    """The docstring statement of a module, class or function, if it has one."""
    body = getattr(node, "body", None)
    if not isinstance(body, list) or not body or not isinstance(body[0], ast.Expr):
        return None
    value = body[0].value
    return body[0] if isinstance(value, ast.Constant) and isinstance(value.value, str) else None


def _excluded_spans(code: str) -> list[tuple[int, int]]:
    """Character spans of comments and docstrings: no field operator applies there."""
    lines = code.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, col: int) -> int:  # tokenize counts characters
        return starts[line - 1] + col

    def byte_offset(line: int, col: int) -> int:  # ast counts UTF-8 bytes
        return starts[line - 1] + len(lines[line - 1].encode()[:col].decode(errors="ignore"))

    spans = []
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            spans.append((offset(*tok.start), offset(*tok.end)))
    for node in ast.walk(ast.parse(code)):
        doc = _docstring(node)
        if doc is not None:
            end = byte_offset(doc.end_lineno or doc.lineno, doc.end_col_offset or 0)
            spans.append((byte_offset(doc.lineno, doc.col_offset), end))
    return spans


def _field_mutations(code: str) -> Iterator[tuple[str, str]]:
    """(operator, mutated code) for every field rule at every place it applies."""
    spans = _excluded_spans(code)
    for rule in FIELD_RULES:
        for match in re.finditer(rule.pattern, code, rule.flags):
            if any(a < match.end() and match.start() < b for a, b in spans):
                continue
            for replacement in rule.replacements:
                new = match.expand(replacement)
                yield rule.operator, code[: match.start()] + new + code[match.end() :]


def _core_mutations(code: str) -> Iterator[tuple[str, str]]:
    """(operator, mutated code) for cosmic-ray's operators, one occurrence at a time."""
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator, operator_names

    for name in operator_names():
        if name.endswith(SKIPPED_CORE):
            continue
        operator = get_operator(name)()
        occurrence = 0
        while True:
            try:
                mutated = mutate_code(code, operator, occurrence)
            except (AttributeError, AssertionError):
                # cosmic-ray cannot mutate some nodes (its exception replacer fails on
                # `except (mod.A, mod.B)`): skip that one occurrence, keep the others.
                occurrence += 1
                continue
            if mutated is None:
                break
            yield name.split("/", 1)[1], mutated
            occurrence += 1


def _meaning(code: str) -> str | None:
    """The module's syntax tree without annotations and docstrings, or None if it does
    not compile: two sources with the same meaning run the same."""
    try:
        with warnings.catch_warnings():  # `x is ""` compiles, with a warning
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(code)
            compile(tree, "<mutant>", "exec")
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
        elif isinstance(node, ast.AnnAssign):
            node.annotation = ast.Constant(None)
        if _docstring(node) is not None:
            node.body[0] = ast.Pass()
    return ast.dump(tree)


def _changed(before: str, after: str) -> tuple[int, str, str]:
    """The first changed line and the changed lines on each side."""
    old, new = before.splitlines(), after.splitlines()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed = " / ".join(s.strip() for s in old[i1:i2])
            added = " / ".join(s.strip() for s in new[j1:j2])
            return i1 + 1, removed, added
    return 0, "", ""


def _units(path: Path) -> Iterator[tuple[int | None, str, Callable[[str], str]]]:
    """The Python code of a file with how to put a changed copy back: a ``.py`` file is
    one unit; a notebook's code cells are one unit each (numbered from 1 among all cells,
    as the notebook runner names a cell that raised)."""
    text = path.read_text()
    if path.suffix == ".py":
        yield None, text, lambda code: code
        return
    notebook = json.loads(text)
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue

        def put(code: str, index: int = index) -> str:
            changed = copy.deepcopy(notebook)
            changed["cells"][index]["source"] = code.splitlines(keepends=True)
            return json.dumps(changed, indent=1, ensure_ascii=False) + "\n"

        yield index + 1, "".join(cell["source"]), put


def _javascript_mutations(path: Path) -> Iterator[tuple[str, str]]:
    """(operator, mutated code) for StrykerJS's mutators, from its instrumenter run by
    Node.js in ``js_mutants/`` (installed there by ``npm ci``, as ``./course mutate`` does)."""
    if not (JS_MUTANTS / "node_modules").is_dir():
        raise RuntimeError(
            f"StrykerJS's mutators are not installed: npm ci --prefix {JS_MUTANTS} "
            "(./course mutate does it)"
        )
    found = subprocess.run(
        ["node", str(JS_MUTANTS / "mutants.mjs"), str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    for item in json.loads(found.stdout):
        yield item["operator"], item["code"]


def generate(folder: Path) -> list[Mutant]:
    """Every distinct, compiling mutant of the Python files, notebooks and JavaScript
    modules in ``folder``, in a stable order."""
    mutants: list[Mutant] = []

    def add(path: Path, cell: int | None, code: str, mutated: str, operator: str, whole: str):
        line, before, after = _changed(code, mutated)
        number = f"m{len(mutants) + 1:03d}"
        mutants.append(Mutant(number, path.name, operator, line, before, after, whole, cell))

    for path in sorted(p for p in folder.iterdir() if p.suffix in (".py", NOTEBOOK, *JAVASCRIPT)):
        if path.suffix in JAVASCRIPT:
            code = path.read_text()
            for operator, mutated in _javascript_mutations(path):
                add(path, None, code, mutated, operator, mutated)
            continue
        for cell, code, put in _units(path):
            seen = {_meaning(code)}
            if None in seen:  # a cell with IPython's own syntax (%magic): left as it is
                continue
            # Field rules first: where both make the same change, the field's name is kept.
            for operator, mutated in [*_field_mutations(code), *_core_mutations(code)]:
                meaning = _meaning(mutated)
                if meaning is None or meaning in seen:
                    continue
                seen.add(meaning)
                add(path, cell, code, mutated, operator, put(mutated))
    return mutants


def write(folder: Path, mutant: Mutant, into: Path) -> Path:
    """A copy of the solution ``folder`` with the mutant's file changed, at ``into``/ID."""
    target = into / mutant.id
    target.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file() and not path.name.endswith(".pyc"):
            text = mutant.code if path.name == mutant.file else path.read_bytes()
            dest = target / path.name
            if isinstance(text, str):
                dest.write_text(text)
            else:
                dest.write_bytes(text)
    return target


# -- verdicts and the report ---------------------------------------------------------


@dataclass(frozen=True)
class Equivalent:
    """A mutant reviewed as behaving like the solution, as far as any check could see."""

    file: str
    before: str
    after: str
    why: str
    cell: int | None = None  # in a notebook: the code cell, as a mutant numbers it

    @property
    def key(self) -> tuple[str, int | None, str, str]:
        return self.file, self.cell, self.before, self.after


def load_equivalents(lab: str, path: Path = EQUIVALENTS) -> list[Equivalent]:
    """The reviewed equivalent mutants of ``lab`` (a table array named after the lab)."""
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    return [Equivalent(**item) for item in data.get(lab, [])]


def verdict(entry: Entry) -> str:
    """killed (a point lost), survived (full marks) or unknown (an infrastructure error)."""
    report = entry.report
    if any(c.lost_points for c in report.checks):
        return "killed"
    if not report.checks or report.infra_errors:
        return "unknown"
    return "survived"


@dataclass
class Outcome:
    """A mutant and what grading it showed."""

    mutant: Mutant
    verdict: str  # killed, survived, equivalent or unknown
    killed_by: list[str] = field(default_factory=list)
    why: str = ""  # for an equivalent: the reviewed reason

    def to_dict(self) -> dict:
        data = {k: v for k, v in asdict(self.mutant).items() if k != "code"}
        return {**data, "verdict": self.verdict, "killed_by": self.killed_by, "why": self.why}


def outcomes(mutants: list[Mutant], entries: dict[str, Entry], lab: str) -> list[Outcome]:
    """Each mutant's verdict; a survivor the equivalents file names is an equivalent."""
    equivalents = {e.key: e.why for e in load_equivalents(lab)}
    result = []
    for mutant in mutants:
        entry = entries[mutant.id]
        found = verdict(entry)
        killers = [c.check for c in entry.report.checks if c.lost_points]
        why = equivalents.get(mutant.key, "")
        if found == "survived" and why:
            found = "equivalent"
        result.append(Outcome(mutant, found, killers, why))
    return result


def score(results: list[Outcome]) -> tuple[int, int, float]:
    """(killed, non-equivalent graded, killed / non-equivalent in %)."""
    killed = sum(o.verdict == "killed" for o in results)
    counted = sum(o.verdict in ("killed", "survived") for o in results)
    return killed, counted, round(100 * killed / counted, 1) if counted else 0.0


def markdown(lab: str, results: list[Outcome]) -> str:
    """The report: the score, then every survivor to review, then the counts by operator."""
    killed, counted, percent = score(results)
    by = {v: [o for o in results if o.verdict == v] for v in ("survived", "equivalent", "unknown")}
    lines = [
        f"# Mutation analysis of {lab}",
        "",
        f"**Mutation score: {percent} %** ({killed} killed of {counted}; "
        f"{len(by['equivalent'])} equivalent, {len(by['unknown'])} not graded).",
        "",
    ]
    if by["survived"]:
        lines += ["## Survivors", "", "| mutant | operator | file:line | was | became |"]
        lines.append("|---|---|---|---|---|")
        lines += [
            f"| {o.mutant.id} | {o.mutant.operator} | {o.mutant.where} "
            f"| `{_cell(o.mutant.before)}` | `{_cell(o.mutant.after)}` |"
            for o in by["survived"]
        ]
        lines.append("")
    if by["unknown"]:
        lines += ["## Not graded (infrastructure errors: run again)", ""]
        lines += [f"- {o.mutant.id} {o.mutant.where}" for o in by["unknown"]]
        lines.append("")
    if by["equivalent"]:
        lines += ["## Equivalent (reviewed)", ""]
        lines += [
            f"- {o.mutant.id} {o.mutant.where} `{_cell(o.mutant.after)}`: {o.why}"
            for o in by["equivalent"]
        ]
        lines.append("")
    operators = sorted({o.mutant.operator for o in results})
    lines += ["## By operator", "", "| operator | mutants | killed | survived |", "|---" * 4 + "|"]
    for name in operators:
        mine = [o for o in results if o.mutant.operator == name]
        lines.append(
            f"| {name} | {len(mine)} | {sum(o.verdict == 'killed' for o in mine)} "
            f"| {sum(o.verdict == 'survived' for o in mine)} |"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str, width: int = 70) -> str:
    text = text.replace("|", "\\|").replace("`", "'")
    return text if len(text) <= width else text[: width - 1] + "…"


def report_json(lab: str, results: list[Outcome]) -> str:
    killed, counted, percent = score(results)
    summary = {"lab": lab, "score": percent, "killed": killed, "counted": counted}
    return json.dumps({**summary, "mutants": [o.to_dict() for o in results]}, indent=2)
