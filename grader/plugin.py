"""The grader as a pytest plugin: checks are pytest tests, scored by marker.

Active only when ``--lab`` is given (the ``grader`` command does that), so it
is harmless in any other pytest run. A check is a test function with
``@pytest.mark.points(n)``; it uses the ``submission`` fixture to run the
student's code in a child process and verifies what landed in InfluxDB with
the ``admin`` client. Every check runs in its own ``sandbox`` organization.

Outcomes: a check that finishes passes (its ``grade`` parts decide partial
credit); an ``AssertionError`` is the student's failure; anything else (a
service down, the grader's own bug), and any failure while a service is down,
is an infrastructure error, shown as such and never costing points. Checks
must therefore turn every student mistake into an assertion, ``expect`` or
``grade.part``, before using a value.

Each result is appended to ``--grader-report`` as soon as the check ends, so a
crash of the run loses nothing that was graded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from influx_labs.services import ServiceError, Stack

from .check import CheckFailed, Grade
from .isolation import Isolation, describe
from .labs import Lab, get_lab
from .results import CheckResult
from .sandbox import Sandbox, SandboxFactory
from .submission import CALL_TIMEOUT, STUDENT_ZONES, Runner, Submission

_STATE = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader")
    group.addoption("--lab", help="grade this lab (enables the grader)")
    group.addoption("--submission", type=Path, help="the student's lab folder")
    group.addoption("--grader-report", type=Path, help="append one JSON line per check here")
    group.addoption(
        "--call-timeout", type=float, default=CALL_TIMEOUT, help="seconds per student call"
    )
    group.addoption(
        "--first-loss",
        action="store_true",
        help="stop at the first check that loses a point (mutation analysis: killed is killed)",
    )
    group.addoption(
        "--isolation",
        choices=[str(i) for i in Isolation],
        default=str(Isolation.AUTO),
        help="run student code in a sandbox: required, auto (where possible) or off",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): what a grader check is worth")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--lab", default=None))


@pytest.fixture(scope="session")
def lab(request: pytest.FixtureRequest) -> Lab:
    if not _enabled(request.config):
        pytest.skip("grader checks run through `grader check` (or pytest --lab NAME)")
    return get_lab(request.config.getoption("--lab"))


@pytest.fixture(scope="session")
def sandboxes(lab_stack: Stack, request: pytest.FixtureRequest) -> SandboxFactory:
    request.config.stash[_STATE] = {"stack": lab_stack}
    return SandboxFactory(lab_stack.endpoints)


@pytest.fixture
def sandbox(sandboxes: SandboxFactory) -> Iterator[Sandbox]:
    """This check's own organization, bucket, scoped token and MQTT topic prefix."""
    box = sandboxes.create()
    try:
        yield box
    finally:
        sandboxes.remove(box)


@pytest.fixture
def admin(influx_client):
    """The grader's own client (admin token): for seeding data and verifying outcomes."""
    return influx_client


@pytest.fixture(scope="session")
def runner(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Runner]:
    """The run's call sandbox: libraries imported once, reset to new for every check."""
    path = Path(request.config.getoption("--submission") or lab.skeleton).resolve()
    box = Runner(path, lab.module, request.config.getoption("--isolation"), lab.packages)
    try:
        yield box
    finally:
        box.close()


@pytest.fixture
def submission(
    lab: Lab, sandbox: Sandbox, runner: Runner, request: pytest.FixtureRequest
) -> Iterator[Submission]:
    """The student's code as this check sees it: its own settings, a sandbox as new."""
    # Checks alternate between the student zones, the same way on every run.
    index = request.session.items.index(request.node)
    code = Submission(
        runner.path,
        lab.module,
        sandbox.env(),
        timeout=request.config.getoption("--call-timeout"),
        runner=runner,
        timezone=STUDENT_ZONES[index % len(STUDENT_ZONES)],
    )
    try:
        yield code
    finally:
        code.close()


@pytest.fixture
def grade() -> Grade:
    return Grade()


# -- scoring ---------------------------------------------------------------


def _points(item: pytest.Item) -> float:
    marker = item.get_closest_marker("points")
    return float(marker.args[0]) if marker else 0.0


def _title(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else item.name


def _message(exc: BaseException) -> str:
    """The check's own words, without pytest's assertion introspection."""
    text = str(exc.args[0]) if exc.args else str(exc)
    if isinstance(exc, AssertionError) and not isinstance(exc, CheckFailed):
        own = text.split("\nassert ")[0]
        text = own if own.strip() and not own.startswith("assert ") else text
    return text.strip()[:4000]


def _services_down(item: pytest.Item) -> str:
    stack = item.config.stash.get(_STATE, {}).get("stack")
    if stack is None:
        return ""
    try:
        stack.check()
    except ServiceError as exc:
        return str(exc)
    return ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not _enabled(item.config) or not item.get_closest_marker("points"):
        return
    result = item.stash.setdefault(_RESULT, CheckResult(item.name, _title(item), _points(item)))
    exc = call.excinfo.value if call.excinfo else None
    if report.when == "setup":
        if report.failed or report.skipped:
            # The check never reached the student's code: not the student's fault.
            result.infra_error(f"could not prepare the check: {_message(exc) if exc else ''}")
    elif report.when == "call":
        result.seconds = round(call.duration, 3)
        grade: Grade | None = item.funcargs.get("grade")  # type: ignore[attr-defined]
        result.parts = grade.parts if grade else []
        assertion = isinstance(exc, AssertionError | pytest.fail.Exception)
        lost = exc is not None or any(not p.passed for p in result.parts)
        # Student mistakes surface as assertions and failed parts. Anything else is the
        # services' or the grader's own failure, and a point lost while a service is
        # down may be the service's doing: neither may cost the student anything.
        down = _services_down(item) if lost else ""
        if down or (exc is not None and not assertion):
            down = down or (str(exc) if isinstance(exc, ServiceError) else "")
            result.infra_error(
                f"a lab service failed: {down}"
                if down
                else f"the grader itself failed (not your fault): {exc!r}"
            )
            return
        result.score(failure=_message(exc) if exc is not None else None)
        if item.config.getoption("--first-loss") and result.points < result.max_points:
            item.session.shouldstop = f"{item.name} lost points (--first-loss)"
    elif report.when == "teardown":
        _record(item.config, result)


_RESULT = pytest.StashKey[CheckResult]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Write the plan first: every check of the lab, so one that never reports is noticed."""
    if not _enabled(session.config):
        return
    plan = [
        {"check": item.name, "title": _title(item), "max_points": _points(item)}
        for item in session.items
        if item.get_closest_marker("points")
    ]
    how = describe(Isolation(session.config.getoption("--isolation")))
    _append(session.config, {"plan": plan, "isolation": how})


def _record(config: pytest.Config, result: CheckResult) -> None:
    _append(config, result.to_dict())


def _append(config: pytest.Config, data: dict) -> None:
    path: Path | None = config.getoption("--grader-report")
    if path is None:
        return
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(data) + "\n")
