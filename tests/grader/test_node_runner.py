"""A JavaScript submission through the grader's real runner: the call server forks a child
that becomes ``node`` (grader/node_runner.mjs), in the same bubblewrap sandbox as Python
code. Values keep their types both ways; whatever the module does wrong ends as a
result that says so, never as a crash of the grader."""

from __future__ import annotations

import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from grader.labs import LABS, REPO_ROOT
from grader.submission import Runner, Submission

from .conftest import needs_sandbox, survivors

MakeModule = Callable[..., Submission]
PACKAGES = LABS["node_client"].packages


@pytest.fixture
def module(tmp_path: Path) -> Iterator[MakeModule]:
    """module(source, isolation="required") -> a Submission of ``lab.mjs`` with that source."""
    made: list[Submission] = []

    def make(source: str, isolation: str = "required") -> Submission:
        folder = tmp_path / f"student-{len(made)}"
        folder.mkdir()
        (folder / "lab.mjs").write_text(textwrap.dedent(source))
        runner = Runner(folder, "lab.mjs", isolation, PACKAGES)
        code = Submission(folder, "lab.mjs", {"LAB_SETTING": "x"}, timeout=20, runner=runner)
        made.append(code)
        return code

    yield make
    for code in made:
        code.close()
        code.runner.close()


@needs_sandbox
def test_values_keep_their_types_both_ways(module: MakeModule):
    code = module(
        """
        export function echo(...args) {
          return { args, types: args.map((a) => (a instanceof Date ? "date" : typeof a)) };
        }
        export const later = async () => ({ big: 2n ** 63n - 1n, nan: NaN, when: new Date(0) });
        """
    )
    zone = timezone(timedelta(hours=5, minutes=30))
    when = datetime(2026, 11, 30, 23, 59, 58, 123000, tzinfo=zone)
    big = 1_764_547_198_123_456_789  # nanoseconds: past 2**53
    result = code.call("echo", big, 21, 2.5, "text", when, [1, {"a": None}], True)
    assert result.ok, result.explain()
    assert result.value["types"] == [
        "bigint",
        "number",
        "number",
        "string",
        "date",
        "object",
        "boolean",
    ]
    args = result.value["args"]
    assert args[0] == big and type(args[0]) is int
    assert args[4] == when  # the same instant, back in UTC
    assert args[1:4] == [21, 2.5, "text"] and args[5:] == [[1, {"a": None}], True]
    later = code.call("later")
    assert later.ok, later.explain()
    assert later.value["big"] == 2**63 - 1 and later.value["nan"] != later.value["nan"]
    assert later.value["when"] == datetime(1970, 1, 1, tzinfo=UTC)


@needs_sandbox
@pytest.mark.parametrize(
    ("body", "stage", "words"),
    [
        ("export function f( {", "import", "SyntaxError"),
        ("export const g = 1;", "lookup", "exports no function f()"),
        (
            'class NotImplementedError extends Error { name = "NotImplementedError"; }\n'
            "export function f() { throw new NotImplementedError('f'); }",
            "call",
            "not implemented yet",
        ),
        ("export function f() { throw 'a plain string'; }", "call", "a plain string"),
        ("export async function f() { return () => 1; }", "result", "type function"),
        ("export function f() { process.exit(3); }", "call", "ended the process"),
        ("export function f() { return new Promise(() => {}); }", "call", "ended the process"),
        (
            "export function f() { setTimeout(() => { throw new RangeError('late'); }, 10);"
            " return new Promise((ok) => setTimeout(ok, 5000)); }",
            "call",
            "RangeError: late",
        ),
    ],
)
def test_every_failure_says_where_and_why(module: MakeModule, body: str, stage: str, words: str):
    result = module(body).call("f")
    assert not result.ok and result.stage == stage, result.explain()
    assert words in f"{result.error_type}: {result.explain()}"


@needs_sandbox
def test_a_busy_loop_is_stopped_and_leaves_nothing_running(module: MakeModule):
    marker = f"js-{uuid.uuid4().hex[:8]}"
    code = module(
        f"""
        import {{ spawn }} from "node:child_process";
        export function spin() {{
          spawn("/bin/sleep", ["300"], {{ argv0: "{marker}", detached: true }});
          for (;;) {{}}
        }}
        """
    )
    started = time.monotonic()
    result = code.call("spin", timeout=3)
    assert result.stage == "timeout" and time.monotonic() - started < 15
    assert survivors(marker) == []


@needs_sandbox
def test_it_imports_the_labs_pinned_client_and_sees_only_its_settings(module: MakeModule):
    code = module(
        f"""
        import fs from "node:fs";
        import {{ Point }} from "@influxdata/influxdb-client";
        export function look() {{
          return {{
            line: new Point("m").tag("a", "b c").intField("n", 2).timestamp(5n).toLineProtocol(),
            env: Object.keys(process.env).sort(),
            grader: [{str(REPO_ROOT / "grader" / "checks")!r}, {str(REPO_ROOT / ".env")!r}]
              .filter((path) => fs.existsSync(path)),
            packages: fs.existsSync("/node_modules/@influxdata/influxdb-client"),
          }};
        }}
        """
    )
    result = code.call("look")
    assert result.ok, result.explain()
    assert result.value["line"] == "m,a=b\\ c n=2i 5"
    assert "LAB_SETTING" in result.value["env"] and result.value["grader"] == []
    assert result.value["packages"]
    assert not [k for k in result.value["env"] if "TOKEN" in k or "ADMIN" in k]


def test_uncontained_it_finds_the_same_packages(module: MakeModule):
    code = module(
        """
        import { Point } from "@influxdata/influxdb-client";
        export const line = () => new Point("m").floatField("x", 21).timestamp(7n).toLineProtocol();
        """,
        isolation="off",
    )
    result = code.call("line")
    assert result.ok and result.value == "m x=21 7", result.explain()
