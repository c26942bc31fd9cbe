"""``grader``: grade one submission (students) or a whole class (instructors).

    grader check http_api                 # the lab folder in labs/
    grader check http_api path/to/folder  # any folder holding the lab's files
    grader class http_api submissions/ --csv gradebook.csv

Each grading run is a separate pytest process: a submission that brings the
run down loses only its own checks, and results are written as they come.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import track
from rich.table import Table

from influx_labs.services import Endpoints

from .labs import LABS, get_lab
from .results import Outcome, Report
from .submission import CALL_TIMEOUT

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console()

EXIT_NOT_FULL, EXIT_USAGE, EXIT_REGRADE = 1, 2, 3
RUN_TIMEOUT = 1800  # seconds for one submission's whole run; each check has its own limits


CallTimeout = Annotated[
    float, typer.Option(min=1, help="seconds each call of the student's code may take")
]


class Backend(StrEnum):
    auto = "auto"
    docker = "docker"
    native = "native"
    external = "external"


def external_env(endpoints: Endpoints) -> dict[str, str]:
    """The environment of a grading run on servers that already run (``--backend external``):
    this process's environment with only the given endpoints' settings, and no .env file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUXDB_", "MQTT_"))}
    env.update(endpoints.as_env())
    env["INFLUX_LABS_BACKEND"] = "external"
    env["INFLUX_LABS_ENV_FILE"] = os.devnull  # only the environment speaks
    return env


def grade(
    lab_name: str,
    path: Path,
    backend: str = "auto",
    *,
    env: dict[str, str] | None = None,
    call_timeout: float | None = None,
    extra_args: list[str] | None = None,
) -> tuple[Report, str]:
    """Run the lab's checks on ``path``; returns the report and pytest's own output.

    ``env`` replaces the run's environment (e.g. the settings of an external
    stack); ``call_timeout`` replaces the per-call limit (None: the plugin's default);
    ``extra_args`` go to pytest as they are.
    """
    lab = get_lab(lab_name)
    with tempfile.TemporaryDirectory(prefix="grader-run-") as tmp:
        results = Path(tmp) / "results.jsonl"
        argv = [
            sys.executable,
            "-m",
            "pytest",
            str(lab.checks),
            "--lab",
            lab.name,
            "--submission",
            str(path),
            "--grader-report",
            str(results),
            "--backend",
            backend,
            "-p",
            "no:cacheprovider",
            "-q",
            "--tb=short",
            "-W",
            "ignore::DeprecationWarning",
            *(["--call-timeout", str(call_timeout)] if call_timeout else []),
            *(extra_args or []),
        ]
        try:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
            output = run.stdout + run.stderr
        except subprocess.TimeoutExpired as exc:
            output = f"the grading run took over {RUN_TIMEOUT}s and was stopped\n{exc.stdout or ''}"
        report = Report.load_jsonl(results, lab.name, str(path), backend)
    return report, output


def lab_or_exit(lab: str):
    """The lab's spec, or a usage error naming the labs there are."""
    try:
        return get_lab(lab)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(EXIT_USAGE) from None


def folder_or_exit(folder: Path) -> Path:
    """The folder, resolved, or a usage error saying it is not one."""
    if not folder.is_dir():
        console.print(f"[red]{folder} is not a folder[/]")
        raise typer.Exit(EXIT_USAGE)
    return folder.resolve()


def show(report: Report) -> None:
    table = Table(title=f"{report.lab}: {report.submission}", show_lines=True, expand=True)
    table.add_column("check", ratio=2)
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("feedback", ratio=5)
    styles = {
        Outcome.PASSED: "green",
        Outcome.PARTIAL: "yellow",
        Outcome.FAILED: "red",
        Outcome.INFRA_ERROR: "magenta",
    }
    for c in report.checks:
        points = f"{c.points:g}/{c.max_points:g}" if c.gradable else f"-/{c.max_points:g}"
        style = styles[c.outcome]
        table.add_row(c.title, points, f"[{style}]{c.outcome}[/]", escape(c.feedback))
    console.print(table)
    console.print(f"[bold]score: {report.score:g} / {report.max_score:g}[/]")
    if report.infra_errors:
        console.print(
            f"[magenta]{len(report.infra_errors)} check(s) hit an infrastructure error: they "
            "cost you nothing and need a regrade once the services run.[/]"
        )


@app.command()
def check(
    lab: Annotated[str, typer.Argument(help=f"one of: {', '.join(LABS)}")],
    path: Annotated[Path | None, typer.Argument(help="the lab folder (default: labs/LAB)")] = None,
    backend: Annotated[Backend, typer.Option(help="where the services run")] = Backend.auto,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    gradescope: Annotated[Path | None, typer.Option(help="also write Gradescope JSON")] = None,
    call_timeout: CallTimeout = CALL_TIMEOUT,
) -> None:
    """Grade one submission and show each check with points and feedback."""
    spec = lab_or_exit(lab)
    folder = folder_or_exit(path or spec.skeleton)
    if as_json:
        report, output = grade(spec.name, folder, backend.value, call_timeout=call_timeout)
    else:
        with console.status(f"grading {spec.name} in {folder}"):
            report, output = grade(spec.name, folder, backend.value, call_timeout=call_timeout)
    if not report.checks:
        console.print(f"[red]the grading run produced no results[/]\n{escape(output[-3000:])}")
        raise typer.Exit(EXIT_REGRADE)
    if gradescope:
        gradescope.write_text(json.dumps(report.to_gradescope(), indent=2))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        show(report)
    if report.infra_errors:
        raise typer.Exit(EXIT_REGRADE)
    raise typer.Exit(0 if report.full_marks else EXIT_NOT_FULL)


def _ignored(name: str) -> bool:
    """Folders that archives and tools add next to the students' (.git, __MACOSX, ...)."""
    return name.startswith((".", "__"))


@app.command("class")
def grade_class(
    lab: Annotated[str, typer.Argument(help=f"one of: {', '.join(LABS)}")],
    submissions: Annotated[Path, typer.Argument(help="a folder with one sub-folder per student")],
    csv_path: Annotated[Path, typer.Option("--csv", help="the gradebook to write")] = Path(
        "gradebook.csv"
    ),
    reports: Annotated[
        Path | None, typer.Option(help="also write each report as JSON here")
    ] = None,
    backend: Annotated[Backend, typer.Option(help="where the services run")] = Backend.auto,
    call_timeout: CallTimeout = CALL_TIMEOUT,
) -> None:
    """Grade every sub-folder of SUBMISSIONS and write a gradebook (CSV)."""
    spec = lab_or_exit(lab)
    submissions = folder_or_exit(submissions)
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not _ignored(p.name))
    if not students:
        console.print(f"[red]no submission folders in {submissions}[/]")
        raise typer.Exit(EXIT_USAGE)
    if reports:
        reports.mkdir(parents=True, exist_ok=True)
    rows, checks = [], []
    for folder in track(students, description=f"grading {spec.name}", console=console):
        report, _ = grade(spec.name, folder, backend.value, call_timeout=call_timeout)
        checks = checks or [c.check for c in report.checks]
        by_check = {c.check: c for c in report.checks}
        rows.append(
            {
                "student": folder.name,
                "score": report.score,
                "max_score": report.max_score,
                "needs_regrade": "yes" if report.infra_errors or not report.checks else "no",
                **{name: (by_check[name].points if name in by_check else "") for name in checks},
            }
        )
        if reports:
            (reports / f"{folder.name}.json").write_text(json.dumps(report.to_dict(), indent=2))
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["student", "score", "max_score", "needs_regrade", *checks])
        writer.writeheader()
        writer.writerows(rows)
    console.print(f"wrote {csv_path} ({len(rows)} submissions)")
