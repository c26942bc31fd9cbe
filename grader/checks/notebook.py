"""Checks for lab notebook: a Jupyter notebook's analysis, executed headless and compared.

The grader seeds three devices' readings into an organization of its own, executes
the student's notebook once with nbclient in a sandbox (as "Restart and run all"
would), with the organization's settings and the window to analyse in the
environment, and reads the named results back from the kernel. Every check
compares one result with the grader's own computation on the data it seeded: the
join, hourly windows (one device silent for an hour), a moving average per device,
sample standard deviations, and a plot. A cell that raises is named in the
feedback with its number and traceback.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from influxdb_client import Point, WritePrecision

from grader import codec
from grader.check import expect, first_differences, ns_of, seed, typed
from grader.notebook import MISSING, UNREADABLE
from grader.submission import STUDENT_ZONES, Submission

DEVICES = ("dev-a", "dev-b", "dev-c")
HOURS = 6
SILENT = ("dev-c", 3)  # a device and an hour (from the start) without a reading
NAMES = ["joined", "hourly", "moving", "spread"]
CELL_TIMEOUT = 60.0
RUN_TIMEOUT = 240.0


class Analysis:
    """The seeded readings and what the notebook's run gave."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.climate: dict[str, list[tuple[int, float]]] = {d: [] for d in DEVICES}
        self.energy: dict[tuple[int, str], int] = {}
        self.report: dict[str, Any] = {}

    def value(self, name: str) -> Any:
        """The named result, or a failed check saying why it is not there."""
        expect(
            "failed" not in self.report and "unreadable" not in self.report,
            "the notebook could not be run",
            found=self.report.get("failed") or self.report.get("unreadable"),
        )
        value = self.report.get("values", {}).get(name, {MISSING: True})
        expect(
            not (isinstance(value, dict) and MISSING in value),
            f"`{name}` was never set",
            expected=f"the notebook to set `{name}`",
            found=self.errors(name) or "no cell raised, and no cell set it",
        )
        expect(
            not (isinstance(value, dict) and UNREADABLE in value),
            f"`{name}` holds a value the grader cannot read",
            found=value.get(UNREADABLE) if isinstance(value, dict) else None,
        )
        return codec.decode(value)

    def errors(self, word: str = "") -> str:
        """The errors of the cells that mention ``word`` (every error without one)."""
        found = [
            f"cell {e['cell']} raised {e['ename']}: {e['evalue']}\n{e['traceback'][-800:]}"
            for e in self.report.get("errors", [])
            if not word or word in e.get("source", word)
        ]
        return "\n".join(found)


def _seed(admin, box, rng: random.Random) -> Analysis:
    """Six hours of readings every 10 minutes (random seconds), unequal per device; watts
    for most of those times and at times of their own; decoys outside the window."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=9)
    analysis = Analysis(start)
    points = []
    for device_index, device in enumerate(DEVICES):
        for step in range(-3, HOURS * 6 + 3):
            when = start + timedelta(minutes=10 * step, seconds=rng.randrange(600))
            hour = (when - start) // timedelta(hours=1)
            if (device, hour) == SILENT or (device == "dev-b" and step % 5 == 4):
                continue
            temperature = round(rng.uniform(15, 30) + device_index, 3)
            points.append(
                Point("climate")
                .tag("device", device)
                .field("temperature", temperature)
                .time(when, WritePrecision.NS)
            )
            inside = 0 <= step < HOURS * 6
            if inside:
                analysis.climate[device].append((ns_of(when), temperature))
            for at in ([when] if step % 4 else []) + [when + timedelta(seconds=7)]:
                watts = rng.randrange(50, 500)
                points.append(
                    Point("energy").tag("device", device).field("watts", watts).time(at, "ns")
                )
                if inside:
                    analysis.energy[(ns_of(at), device)] = watts
    seed(admin, box, points)
    return analysis


@pytest.fixture(scope="module")
def analysis(lab, sandboxes, runner, influx_client) -> Iterator[Analysis]:
    """One run of the notebook on data seeded in an organization of its own."""
    box = sandboxes.create()
    code = Submission(runner.path, lab.module, box.env(), runner=runner, timezone=STUDENT_ZONES[0])
    try:
        result = _seed(influx_client, box, random.Random())
        window = {  # the start with an offset of its own: the notebook must keep it
            "ANALYSIS_START": result.start.astimezone(timezone(timedelta(hours=-5))).isoformat(),
            "ANALYSIS_STOP": (result.start + timedelta(hours=HOURS)).isoformat(),
        }
        result.report = code.notebook(NAMES, window, CELL_TIMEOUT, RUN_TIMEOUT)
        yield result
    finally:
        code.close()
        sandboxes.remove(box)


def _frame(analysis: Analysis, name: str, columns: list[str]) -> pd.DataFrame:
    value = analysis.value(name)
    expect(
        isinstance(value, pd.DataFrame) and set(columns) <= set(value.columns),
        f"`{name}` is not a DataFrame with columns {columns}",
        found=f"columns {list(value.columns)}" if isinstance(value, pd.DataFrame) else typed(value),
    )
    return value


def _ns(value: Any) -> int | None:
    """Integer nanoseconds of a timezone-aware time (None for anything else)."""
    stamp = pd.Timestamp(value) if isinstance(value, datetime | pd.Timestamp) else None
    return None if stamp is None or stamp.tzinfo is None else stamp.value


def _rows(frame: pd.DataFrame, value: str) -> list[tuple]:
    """(ns, device, value) of each row, by time and device."""
    rows = frame[["_time", "device", value]].to_dict("records")
    return sorted(((_ns(r["_time"]), r["device"], r[value]) for r in rows), key=repr)


def _same(want: list[tuple], found: list[tuple]) -> bool:
    """The same times and devices, in the same order, with values equal to 1e-9."""
    return len(want) == len(found) and all(
        w[:2] == f[:2] and isinstance(f[2], float) and math.isclose(w[2], f[2], rel_tol=1e-9)
        for w, f in zip(want, found, strict=True)
    )


@pytest.mark.points(3)
def test_join_of_two_measurements(analysis, grade):
    """`joined`: temperature and watts of the same device at the same time, and only those."""
    frame = _frame(analysis, "joined", ["_time", "device", "temperature", "watts"])
    temperatures = {(ns, d): t for d, rows in analysis.climate.items() for ns, t in rows}
    want = sorted(
        (ns, device, temperatures[(ns, device)], watts)
        for (ns, device), watts in analysis.energy.items()
        if (ns, device) in temperatures
    )
    found = sorted(
        (_ns(r["_time"]), r["device"], r["temperature"], r["watts"])
        for r in frame.to_dict("records")
    )
    grade.part(
        "one row for each time and device with both a temperature and watts",
        2,
        [repr(r) for r in found] == [repr(r) for r in want],
        expected=f"{len(want)} rows like {want[0]}",
        found=first_differences(want, found, limit=2),
        hint="an inner join on _time and device: a time alone pairs one device with another's "
        "watts, an outer join keeps times that lack one of the two",
    )
    kinds = {column: str(frame[column].dtype) for column in ("temperature", "watts")}
    grade.part(
        "temperature stays a float and watts an integer",
        1,
        kinds["temperature"].startswith("float") and kinds["watts"].startswith("int"),
        expected="dtypes float64 and int64",
        found=kinds,
        hint="a join that leaves rows without a match makes watts a float column (NaN)",
    )


def _hourly(analysis: Analysis) -> list[tuple]:
    """The grader's own hourly means: (end of the hour in ns, device, mean)."""
    hour = 3600 * 10**9
    base = ns_of(analysis.start)
    means = []
    for device, rows in analysis.climate.items():
        windows: dict[int, list[float]] = {}
        for ns, temperature in rows:
            windows.setdefault((ns - base) // hour, []).append(temperature)
        means += [
            (base + (k + 1) * hour, device, statistics.fmean(v)) for k, v in sorted(windows.items())
        ]
    return sorted(means, key=repr)


@pytest.mark.points(3)
def test_hourly_means(analysis, grade):
    """`hourly`: each device's mean per hour with readings, labelled by the hour's end."""
    frame = _frame(analysis, "hourly", ["_time", "device", "temperature"])
    want, found = _hourly(analysis), _rows(frame, "temperature")
    grade.part(
        "one row per device and hour with readings, at the hour's end, with the mean",
        3,
        _same(want, found),
        expected=f"{len(want)} rows like {want[0]} (time in ns)",
        found=first_differences(want, found, limit=2),
        hint="aggregateWindow(every: 1h, fn: mean, createEmpty: false): windows in UTC, each "
        "labelled by its end; an hour without readings has no row",
    )


@pytest.mark.points(2)
def test_moving_average_per_device(analysis, grade):
    """`moving`: the mean of each reading and the device's two before it."""
    frame = _frame(analysis, "moving", ["_time", "device", "temperature"])
    want = sorted(
        (
            (rows[i][0], device, statistics.fmean(t for _, t in rows[i - 2 : i + 1]))
            for device, rows in analysis.climate.items()
            for i in range(2, len(rows))
        ),
        key=repr,
    )
    found = _rows(frame, "temperature")
    grade.part(
        "a moving average of three readings, device by device",
        2,
        _same(want, found),
        expected=f"{len(want)} rows like {want[0]}",
        found=first_differences(want, found, limit=2),
        hint="movingAverage(n: 3) on the readings as they come, a table per device; never "
        "after group(), which puts every device in one series",
    )


@pytest.mark.points(2)
def test_sample_standard_deviation(analysis, grade):
    """`spread`: each device's sample standard deviation of its temperatures."""
    value = analysis.value("spread")
    want = {d: statistics.stdev(t for _, t in rows) for d, rows in analysis.climate.items()}
    right = isinstance(value, dict) and set(value) == set(want)
    right = right and all(
        isinstance(value[d], float) and math.isclose(value[d], want[d], rel_tol=1e-9) for d in want
    )
    grade.part(
        "the sample standard deviation of each device",
        2,
        right,
        expected={d: round(v, 6) for d, v in want.items()},
        found=typed(value),
        hint="stddev() in Flux or .std() in pandas divide by n - 1 (the sample's); "
        'mode: "population" and numpy\'s std() divide by n',
    )


@pytest.mark.points(1)
def test_a_plot_and_a_clean_run(analysis, grade):
    """A cell shows a plot as an image; every cell runs, top to bottom, without an error."""
    expect(
        "failed" not in analysis.report,
        "the notebook could not be run",
        found=analysis.report.get("failed"),
    )
    grade.part(
        "a plot of the temperatures",
        0.5,
        bool(analysis.report.get("image_cells")),
        expected="a cell whose output is an image (a matplotlib figure shown)",
        found="; ".join(filter(None, ["no image in any cell's output", analysis.errors()])),
        hint="plt.show() (or the figure as a cell's last value) in the notebook's kernel "
        "gives an image output",
    )
    grade.part(
        "every cell runs without an error",
        0.5,
        not analysis.report.get("errors"),
        expected=f"{analysis.report.get('code_cells', 0)} code cells, none raising",
        found=analysis.errors(),
        hint="run it as the grader does: Kernel → Restart and run all",
    )
