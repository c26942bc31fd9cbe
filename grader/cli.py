"""``grader``: grade one submission (students) or a whole class (instructors).

    grader check http_api                 # the lab folder in labs/
    grader check http_api path/to/folder  # any folder holding the lab's files
    grader progress                       # the last grade of each lab
    grader class http_api submissions/ --csv gradebook.csv   # submissions/STUDENT/
    grader class submissions/ --jobs 4                       # submissions/STUDENT/LAB/
    grader mutate http_api    # how many mutants of the solution the checks catch

Each grading run is a separate pytest process: a submission that brings the
run down loses only its own checks, and results are written as they come.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from influx_labs.services import Endpoints, ServiceError, open_stack
from influx_labs.services.process import die_with_parent

from . import classroom, mutation, progress
from .isolation import unavailable as isolation_unavailable
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
    isolation: str = "auto",
    extra_args: list[str] | None = None,
) -> tuple[Report, str]:
    """Run the lab's checks on ``path``; returns the report and pytest's own output.

    ``env`` replaces the run's environment (e.g. the settings of an external
    stack); ``call_timeout`` replaces the per-call limit (None: the plugin's default);
    ``isolation`` is ``required``, ``auto`` (contained where the machine allows,
    else uncontained with a note) or ``off``; ``extra_args`` go to pytest as they are.
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
            "--isolation",
            isolation,
            *(["--call-timeout", str(call_timeout)] if call_timeout else []),
            *(extra_args or []),
        ]
        # Output to a file, not a pipe: the run is over when pytest exits, whatever still
        # holds its output open. pytest dies with this process (and, killed, takes its
        # sandboxes along), so an interrupted class leaves nothing running.
        log = Path(tmp) / "pytest.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent
            )
            try:
                proc.wait(timeout=RUN_TIMEOUT)
                note = ""
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                note = f"the grading run took over {RUN_TIMEOUT}s and was stopped\n"
        output = note + log.read_text(errors="replace")
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
    if report.isolation.startswith("uncontained"):
        console.print(
            f"[yellow]note: your code ran {escape(report.isolation)}: fine for your own "
            "work; an instructor's `grader class` refuses to run like this.[/]"
        )
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
    progress.save(report)
    if gradescope:
        gradescope.write_text(json.dumps(report.to_gradescope(), indent=2))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        show(report)
    if report.infra_errors:
        raise typer.Exit(EXIT_REGRADE)
    raise typer.Exit(0 if report.full_marks else EXIT_NOT_FULL)


@app.command("progress")
def show_progress(
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
) -> None:
    """Your last grade in each lab (kept by every `grader check`), and what is left."""
    rows = progress.load()
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    table = Table(title="your progress: the last grade of each lab", expand=True)
    table.add_column("lab", ratio=3)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("graded", no_wrap=True)
    table.add_column("status", ratio=2)
    for row in rows:
        report = row.report
        score = f"{report.score:g}/{report.max_score:g}" if report else "-"
        when = row.graded_at.astimezone().strftime("%Y-%m-%d %H:%M") if row.graded_at else "-"
        style = "green" if report and report.full_marks else "yellow" if report else "dim"
        status = f"[{style}]{escape(row.status)}[/]"
        if report and Path(report.submission) != LABS[row.lab].skeleton:
            status += f"\n[dim]graded: {escape(report.submission)}[/]"  # not labs/LAB
        table.add_row(f"{row.title} ({row.lab})", score, when, status)
    console.print(table)
    done = sum(bool(row.report and row.report.full_marks) for row in rows)
    console.print(
        f"[bold]{done} of {len(rows)} labs at full marks.[/] A lab's grade is its last "
        "`./course check LAB`; grade one again to update it."
    )


@contextlib.contextmanager
def class_services(
    backend: Backend, servers: Iterable[str] = ()
) -> Iterator[tuple[str, dict[str, str] | None, str]]:
    """One set of servers for the whole class: (backend for grade(), its env, their name).

    Unless they are external, the servers start once here, with the extra InfluxDB
    ``servers`` the labs need, and every grading run reaches them as external ones,
    so 30 students do not start 30 influxd servers.
    """
    if backend == Backend.external:
        yield "external", None, "external"
        return
    stack = None
    try:
        stack = open_stack(backend.value)
        with console.status(f"starting the lab services ({stack.backend})"):
            stack.start()
            for name in sorted(set(servers)):
                stack.influx_server(name)
    except ServiceError as exc:
        if stack is not None:
            stack.stop()  # what did start: the first servers, before an extra one failed
        console.print(f"[red]cannot start the lab services: {escape(str(exc))}[/]")
        raise typer.Exit(EXIT_REGRADE) from None
    try:
        yield "external", external_env(stack.endpoints), stack.backend
    finally:
        stack.stop()


def class_tasks(target: str, submissions: Path | None) -> list[classroom.Task]:
    """The student-labs to grade: ``LAB FOLDER`` (a folder per student) or ``FOLDER``
    (``STUDENT/LAB/``), or a usage error saying what is wrong."""
    lab = None
    if submissions is None:
        if not Path(target).is_dir() and target.replace("-", "_") in LABS:
            console.print(f"[red]name the submissions folder too: grader class {target} FOLDER[/]")
            raise typer.Exit(EXIT_USAGE)
        root = folder_or_exit(Path(target))
    else:
        lab = lab_or_exit(target).name
        root = folder_or_exit(submissions)
    tasks = classroom.discover(root, lab)
    if not tasks:
        where = escape(str(root))
        if lab is None:  # perhaps one lab's folders, given without the lab
            where += f" as STUDENT/LAB/ (LAB one of: {', '.join(LABS)})"
            where += f"; for one lab's STUDENT/ folders: grader class LAB {escape(str(root))}"
        console.print(f"[red]no submission folders in {where}[/]")
        raise typer.Exit(EXIT_USAGE)
    return tasks


NO_ISOLATION_WARNING = (
    "[bold red]--no-isolation: the students' code runs uncontained[/], as your own user. It "
    "can read and change every file you can: the .env with the admin token, your keys, "
    "other students' submissions, this gradebook and its reports; and it can leave "
    "processes running. Use it only for code you trust, or on a throwaway machine or "
    "account that owns nothing but the submissions."
)


DEFAULT_JOBS = os.cpu_count() or 1


def grade_tasks(
    tasks: list[classroom.Task],
    csv_path: Path,
    reports: Path,
    *,
    backend: Backend,
    jobs: int,
    fresh: bool,
    isolation: str,
    call_timeout: float,
    first_loss: bool = False,
) -> tuple[dict[classroom.Task, classroom.Entry], int, int]:
    """Grade ``tasks`` in parallel on one set of servers, keeping each result (its report,
    then the gradebook and JUnit XML) as soon as it is in, so a kill loses nothing.
    ``first_loss`` ends each grading at its first lost point (mutation analysis).

    Returns every task's entry, how many were graded now and how many reused.
    """
    settings = f"call-timeout={call_timeout:g} isolation={isolation}"
    settings += " first-loss" if first_loss else ""
    entries, todo = classroom.plan(tasks, reports, settings, fresh=fresh)
    reused = sum(e.reused for e in entries.values())

    def write_class_files() -> None:
        classroom.write_atomic(csv_path, classroom.gradebook_csv(tasks, entries))
        classroom.write_atomic(reports / "junit.xml", classroom.junit_xml(entries.values()))

    def record(entry: classroom.Entry, output: str = "") -> None:
        entries[entry.task] = entry
        classroom.save_entry(reports, entry, output)
        write_class_files()

    for entry in [e for e in entries.values() if e.missing]:
        classroom.save_entry(reports, entry)
    write_class_files()
    if todo and isolation != "off" and (reason := isolation_unavailable()):
        console.print(f"[red]the code graded runs contained, but {escape(reason)}[/]")
        raise typer.Exit(EXIT_REGRADE)
    if not todo:
        return entries, 0, reused
    servers = [name for task in todo for name in LABS[task.lab].servers]
    with class_services(backend, servers) as (run_backend, env, served_by):
        progress = Progress(
            TextColumn("grading"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(f"({reused} reused)"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        with progress, ThreadPoolExecutor(max_workers=jobs) as pool:
            bar = progress.add_task("grading", total=len(tasks), completed=len(entries))
            options = {
                "env": env,
                "call_timeout": call_timeout,
                "isolation": isolation,
                "extra_args": ["--first-loss"] if first_loss else None,
            }
            runs = {
                pool.submit(grade, task.lab, task.folder, run_backend, **options): task
                for task in todo
            }
            try:
                for run in as_completed(runs):
                    record(*_graded(runs[run], run, todo[runs[run]], served_by, first_loss))
                    progress.advance(bar)
            except KeyboardInterrupt:
                console.print("[yellow]interrupted: finishing the gradings under way[/]")
                pool.shutdown(cancel_futures=True)
                for run, task in runs.items():
                    if run.done() and not run.cancelled() and task not in entries:
                        record(*_graded(task, run, todo[task], served_by, first_loss))
                console.print(f"[yellow]what was graded is in {escape(str(csv_path))}[/]")
                raise
    return entries, len(todo), reused


@app.command("class")
def grade_class(
    target: Annotated[
        str,
        typer.Argument(
            metavar="LAB_OR_FOLDER",
            help=f"a lab ({', '.join(LABS)}) then its FOLDER, or one FOLDER of STUDENT/LAB/",
        ),
    ],
    submissions: Annotated[
        Path | None,
        typer.Argument(metavar="FOLDER", help="one sub-folder per student with LAB's files"),
    ] = None,
    csv_path: Annotated[Path, typer.Option("--csv", help="the gradebook to write")] = Path(
        "gradebook.csv"
    ),
    reports: Annotated[
        Path | None,
        typer.Option(help="reports, junit.xml, summary.md (default: CSV-STEM-reports/)"),
    ] = None,
    backend: Annotated[Backend, typer.Option(help="where the services run")] = Backend.auto,
    jobs: Annotated[int, typer.Option(min=1, help="submissions graded at once")] = DEFAULT_JOBS,
    fresh: Annotated[bool, typer.Option("--fresh", help="reuse no stored report")] = False,
    no_isolation: Annotated[
        bool, typer.Option("--no-isolation", help="run students' code uncontained (unsafe)")
    ] = False,
    call_timeout: CallTimeout = CALL_TIMEOUT,
) -> None:
    """Grade a class in parallel: a gradebook CSV, every report, JUnit XML and a summary.

    A re-run reuses each report graded from the same files by the same grader (--fresh: none).
    """
    tasks = class_tasks(target, submissions)
    reports = reports or csv_path.with_name(f"{csv_path.stem}-reports")
    if no_isolation:
        console.print(NO_ISOLATION_WARNING)
    entries, graded, reused = grade_tasks(
        tasks,
        csv_path,
        reports,
        backend=backend,
        jobs=jobs,
        fresh=fresh,
        isolation="off" if no_isolation else "required",
        call_timeout=call_timeout,
    )
    summary = classroom.summary_markdown(classroom.summarize(entries.values()))
    classroom.write_atomic(reports / "summary.md", summary)
    console.print(Markdown(summary))
    regrade = sum(e.needs_regrade for e in entries.values())
    missing = sum(e.missing for e in entries.values())
    console.print(
        f"wrote {escape(str(csv_path))} ({len({t.student for t in tasks})} students): "
        f"{graded} graded now, {reused} reused, {missing} missing, "
        f"{regrade} need a regrade; reports in {escape(str(reports))}"
    )
    raise typer.Exit(EXIT_REGRADE if regrade else 0)


@app.command()
def mutate(
    lab: Annotated[str, typer.Argument(help=f"one of: {', '.join(LABS)}")],
    out: Annotated[
        Path | None, typer.Option(help="mutants, reports and report.md (default: mutation/LAB)")
    ] = None,
    only: Annotated[
        str | None, typer.Option(help="grade only operators matching this regular expression")
    ] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="list the mutants, grade nothing")
    ] = False,
    backend: Annotated[Backend, typer.Option(help="where the services run")] = Backend.auto,
    jobs: Annotated[int, typer.Option(min=1, help="mutants graded at once")] = DEFAULT_JOBS,
    fresh: Annotated[bool, typer.Option("--fresh", help="reuse no stored report")] = False,
    call_timeout: CallTimeout = CALL_TIMEOUT,
) -> None:
    """Mutation analysis: grade every small change of the lab's solution and report the
    share the checks catch (killed / non-equivalent), with each survivor listed.

    A re-run reuses the reports of mutants graded by the same checks. Survivors that
    behave exactly like the solution go, with a reason, in grader/equivalent_mutants.toml.
    """
    spec = lab_or_exit(lab)
    if spec.no_mutation:
        console.print(
            f"[red]{spec.name}: no mutation analysis: {spec.no_mutation}[/]; its variants "
            f"(tests/grader/variants_{spec.name}.py) are what measures its checks"
        )
        raise typer.Exit(2)
    out = out or Path("mutation") / spec.name
    try:
        mutants = mutation.generate(spec.solution)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # no Node.js or Stryker
        console.print(f"[red]{spec.name}: the mutants could not be made: {escape(str(exc))}[/]")
        raise typer.Exit(EXIT_USAGE) from None
    if only:
        mutants = [m for m in mutants if re.search(only, m.operator)]
    if list_only:
        for m in mutants:
            typer.echo(f"{m.id} {m.operator:<40} {m.where}  {m.before}  ->  {m.after}")
        raise typer.Exit(0)
    shutil.rmtree(out / "mutants", ignore_errors=True)
    tasks = [classroom.Task("solution", spec.name, spec.solution)]
    tasks += [
        classroom.Task(m.id, spec.name, mutation.write(spec.solution, m, out / "mutants"))
        for m in mutants
    ]
    console.print(f"{spec.name}: {len(mutants)} mutants of {spec.solution}")
    entries, _, _ = grade_tasks(
        tasks,
        out / "gradebook.csv",
        out / "reports",
        backend=backend,
        jobs=jobs,
        fresh=fresh,
        isolation="required",
        call_timeout=call_timeout,
        first_loss=True,
    )
    baseline = entries[tasks[0]].report
    if not baseline.full_marks or baseline.infra_errors:
        console.print(
            f"[red]the solution itself got {baseline.score}/{baseline.max_score}: "
            "no mutant can be judged against it[/]"
        )
        raise typer.Exit(EXIT_REGRADE)
    results = mutation.outcomes(mutants, {t.student: e for t, e in entries.items()}, spec.name)
    text = mutation.markdown(spec.name, results)
    classroom.write_atomic(out / "report.md", text)
    classroom.write_atomic(out / "report.json", mutation.report_json(spec.name, results))
    console.print(Markdown(text))
    console.print(f"report: {escape(str(out / 'report.md'))}")


def _graded(
    task: classroom.Task, future: Future, fingerprint: str, served_by: str, first_loss: bool
) -> tuple[classroom.Entry, str]:
    """The entry of a finished grading run and pytest's output; a run that raised is one
    that needs a regrade, not the end of the class."""
    try:
        report, output = future.result()
    except Exception as exc:
        report, output = Report(task.lab, str(task.folder)), f"the grading run failed: {exc!r}"
    report.backend = served_by  # not "external": where the class's own servers ran
    entry = classroom.Entry(task, report, fingerprint)
    lost = any(c.lost_points for c in report.checks)
    if entry.needs_regrade and not (first_loss and lost):  # --first-loss stops there
        console.print(
            f"[magenta]{escape(task.student)}/{task.lab} needs a regrade: "
            f"see {escape(task.student)}/{task.lab}.log in the reports[/]"
        )
    return entry, output
