"""Checks for lab grafana_dashboard: a dashboard as code, proved without a Grafana server.

The student's ``dashboard()`` (run in the sandbox) returns the dashboard model.
The grader decodes it with the Grafana Foundation SDK's types (the "next" build,
Grafana 12, which the Compose file pins) and reports every value of the wrong
type and every key those types do not know; checks that each panel and the
device variable use the datasource the provisioning file defines; and runs each
query on live InfluxDB, with Grafana's macros and the variable substituted the
way Grafana does, on readings it seeded: the results must be what the panel
needs (a series per device of window means, the latest humidity of each device,
one table of devices with their last report).
"""

from __future__ import annotations

import enum
import json
import math
import random
import re
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from influxdb_client import Point, WritePrecision
from influxdb_client.rest import ApiException

from grader.check import expect, expect_ok, first_differences, ns_of, seed, show_ns
from grader.labs import REPO_ROOT

PROVISIONING = REPO_ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "influxdb.yml"
DEVICES = ("dev-1", "dev-2", "lab.7", "attic")
SELECTED = ("dev-2", "lab.7")  # what the check picks in the device variable
WINDOW = timedelta(minutes=10)  # v.windowPeriod, as Grafana would derive it for the range
SPAN = timedelta(hours=2)
MACROS = ("v.timeRangeStart", "v.timeRangeStop", "v.windowPeriod")
# Keys Grafana itself writes that its schema leaves out: no mistake of the student's.
EXPORTED_EXTRAS = ("definition",)


def provisioned() -> dict[str, str]:
    """The datasource the Compose stack provisions: its type and uid."""
    source = yaml.safe_load(PROVISIONING.read_text())["datasources"][0]
    return {"type": source["type"], "uid": source["uid"]}


# -- the model, against the Foundation SDK's types ----------------------------------


def _camel(name: str) -> str:
    name = name.removesuffix("_val")
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def type_problems(value: Any, hint: Any, path: str) -> list[str]:
    """Where ``value`` (decoded by the SDK) breaks the SDK's type ``hint``."""
    origin = typing.get_origin(hint)
    if isinstance(value, enum.Enum) and not (
        isinstance(hint, type) and issubclass(hint, enum.Enum)
    ):
        value = value.value  # a literal the SDK decoded into one of its enums
    if hint in (typing.Any, object):  # a plugin's options or custom config: their own type
        known = hasattr(value, "to_json") and not isinstance(value, enum.Enum)
        return type_problems(value, type(value), path) if known else []
    if origin in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        if value is None:
            return []
        found = [type_problems(value, option, path) for option in options]
        return [] if any(not f for f in found) else min(found, key=len)
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        return [] if value in allowed else [f"{path}: {value!r} is none of {list(allowed)}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: a list expected, found {value!r}"]
        item = (typing.get_args(hint) or (typing.Any,))[0]
        return [p for i, v in enumerate(value) for p in type_problems(v, item, f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: an object expected, found {value!r}"]
        item = (typing.get_args(hint) or (str, typing.Any))[1]
        return [p for k, v in value.items() for p in type_problems(v, item, f"{path}.{k}")]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = [member.value for member in hint]
        raw = value.value if isinstance(value, enum.Enum) else value
        return [] if raw in allowed else [f"{path}: {raw!r} is none of {allowed}"]
    if hint is float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if number else [f"{path}: a number expected, found {value!r}"]
    if hint in (int, str, bool):
        what = {int: "an integer", str: "a string", bool: "true or false"}[hint]
        return [] if type(value) is hint else [f"{path}: {what} expected, found {value!r}"]
    if isinstance(hint, type):
        if not isinstance(value, hint):
            return [f"{path}: {hint.__name__} expected, found {value!r}"]
        try:
            hints = typing.get_type_hints(hint)
        except (NameError, TypeError):
            return []
        return [
            problem
            for name, attribute in hints.items()
            for problem in type_problems(
                getattr(value, name, None), attribute, f"{path}.{_camel(name)}"
            )
        ]
    return []


def unknown_keys(given: Any, known: Any, path: str) -> list[str]:
    """Keys of ``given`` that the SDK's encoding of it (``known``) left out."""
    if isinstance(given, dict) and isinstance(known, dict):
        return [f"{path}.{k}" for k in given if k not in known] + [
            p for k in given if k in known for p in unknown_keys(given[k], known[k], f"{path}.{k}")
        ]
    if isinstance(given, list) and isinstance(known, list):
        pairs = zip(given, known, strict=False)
        return [p for i, (g, k) in enumerate(pairs) for p in unknown_keys(g, k, f"{path}[{i}]")]
    return []


def validate(model: dict) -> tuple[list[str], list[str]]:
    """(type problems, unknown keys) of a dashboard model, by the SDK's types."""
    from grafana_foundation_sdk.cog import plugins
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    plugins.register_default_plugins()
    try:
        decoded = Dashboard.from_json(model)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [f"the SDK cannot decode it: {type(exc).__name__}: {exc}"], []
    again = json.loads(JSONEncoder().encode(decoded))
    unknown = unknown_keys(model, again, "dashboard")
    extras = [k for k in unknown if not k.endswith(EXPORTED_EXTRAS)]
    return type_problems(decoded, Dashboard, "dashboard"), extras


# -- Grafana's substitutions ----------------------------------------------------------


def _regex_escape(value: str) -> str:
    """As Grafana escapes a variable's value for a regular expression (and Flux's /…/)."""
    return re.sub(r"([\\^$*+?.()|\[\]{}/])", r"\\\1", value)


def _format(values: list[str], how: str) -> str:
    """A multi-value variable's text in a query, for Grafana's formats the guide lists."""
    if how in ("", "regex"):
        escaped = [_regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"
    if how == "pipe":
        return "|".join(values)
    if how == "csv":
        return ",".join(values)
    if how == "json":
        return json.dumps(values)
    if how == "doublequote":
        return ",".join(json.dumps(v) for v in values)
    if how == "raw":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    return f"${{device:{how}}}"  # a format Grafana has but the grader does not: left as is


def substituted(
    query: str, bucket: str, start: datetime, stop: datetime, devices: list[str]
) -> str:
    """The query as Grafana sends it: the device variable (its formats, ``$device`` and
    ``[[device]]``) replaced in the browser, then the Flux datasource's macros."""
    query = re.sub(r"\$\{device(?::(\w+))?\}", lambda m: _format(devices, m[1] or ""), query)
    query = re.sub(r"\$device\b|\[\[device\]\]", lambda _: _format(devices, ""), query)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    macros = {
        "v.timeRangeStart": start.astimezone(UTC).strftime(stamp),
        "v.timeRangeStop": stop.astimezone(UTC).strftime(stamp),
        "v.windowPeriod": f"{WINDOW // timedelta(milliseconds=1)}ms",
        "v.defaultBucket": json.dumps(bucket),
    }
    for macro, text in macros.items():
        query = query.replace(macro, text)
    return query


# -- seeded readings ------------------------------------------------------------------


class Readings:
    """What the grader wrote: (ns, temperature, humidity) per device, and the window."""

    def __init__(self, admin, sandbox, rng: random.Random) -> None:
        width = WINDOW // timedelta(seconds=1)
        now = int(datetime.now(UTC).timestamp()) // width * width
        self.stop = datetime.fromtimestamp(now, UTC) - timedelta(minutes=20)
        self.start = self.stop - SPAN
        self.series: dict[str, list[tuple[int, float, float]]] = {d: [] for d in DEVICES}
        points = []
        for device in (*DEVICES, "retired"):
            # "retired" reported only before the range, "attic" stopped 40 minutes before
            # its end; the others go on after it. Every device also reported before it.
            end = {
                "retired": self.start - timedelta(minutes=5),
                "attic": self.stop - timedelta(minutes=40),
            }
            when = self.start - timedelta(minutes=30, seconds=rng.randrange(60))
            while when < end.get(device, self.stop + timedelta(minutes=30)):
                temperature, humidity = round(rng.uniform(15, 30), 2), round(rng.uniform(20, 80), 1)
                points.append(
                    Point("readings")
                    .tag("device", device)
                    .field("temperature", temperature)
                    .field("humidity", humidity)
                    .time(when, WritePrecision.NS)
                )
                if self.start <= when < self.stop and device != "retired":
                    self.series[device].append((ns_of(when), temperature, humidity))
                when += timedelta(minutes=2, seconds=rng.randrange(-20, 20))
        points.append(Point("other").tag("device", "elsewhere").field("x", 1.0).time(self.start))
        seed(admin, sandbox, points)

    def window_means(self, device: str) -> list[tuple[int, float]]:
        """aggregateWindow(every: WINDOW, fn: mean): (window end in ns, mean) with data."""
        width, stop = WINDOW // timedelta(microseconds=1) * 1000, ns_of(self.stop)
        windows: dict[int, list[float]] = {}
        for ns, temperature, _ in self.series[device]:
            windows.setdefault(ns // width, []).append(temperature)
        return [(min((k + 1) * width, stop), sum(v) / len(v)) for k, v in sorted(windows.items())]


def _model(submission) -> dict:
    """The student's dashboard model: what ``dashboard()`` returned."""
    value = expect_ok(submission.call("dashboard"))
    expect(
        isinstance(value, dict),
        "dashboard() must return the dashboard model as a dict (Grafana's JSON)",
        found=type(value).__name__,
    )
    return value


def _panel(model: dict, kind: str) -> dict:
    panels = [p for p in model.get("panels") or [] if isinstance(p, dict)]
    found = [p for p in panels if p.get("type") == kind]
    expect(
        found,
        f"no panel of type {kind!r}",
        expected=f"a {kind} panel in `panels`",
        found=sorted({str(p.get("type")) for p in panels}) or "no panels",
    )
    return found[0]


def _query(panel: dict) -> str:
    targets = [t for t in panel.get("targets") or [] if isinstance(t, dict)]
    expect(
        targets and isinstance(targets[0].get("query"), str),
        f"panel {panel.get('title')!r} has no Flux query",
        expected="targets: [{refId, datasource, query: <Flux>}]",
        found=targets[:1] or "no targets",
    )
    return targets[0]["query"]


def _run(admin, sandbox, readings: Readings, query: str, devices: list[str]) -> tuple[list, str]:
    """The query's tables as InfluxDB answers it for Grafana, or the server's error."""
    text = substituted(query, sandbox.bucket, readings.start, readings.stop, devices)
    try:
        return admin.query_api().query(text, org=sandbox.org_id), ""
    except ApiException as exc:  # the server refused the student's Flux (a server that
        # does not answer is the grader's problem: that error goes on, as an infra error)
        body = exc.body or str(exc)
        return [], f"InfluxDB refused the query: {str(body)[:400]}\nquery: {text[:600]}"


def _uses_macros(query: str, *macros: str) -> list[str]:
    return [m for m in macros if m not in query]


# -- checks ---------------------------------------------------------------------------


@pytest.mark.points(3)
def test_a_dashboard_model_grafana_accepts(submission, grade):
    """The model decodes with Grafana's types, with no key they do not know, and has its
    identity and time range."""
    model = _model(submission)
    problems, unknown = validate(model)
    grade.part(
        "every value of the type Grafana's schema gives it",
        1,
        not problems,
        expected="the model decoded by the Foundation SDK's types with no wrong type",
        found="; ".join(problems[:4])
        + (f"; and {len(problems) - 4} more" if len(problems) > 4 else ""),
        hint="compare with a dashboard exported from Grafana: numbers as numbers, enums "
        "spelled as Grafana spells them (drawStyle 'line', mode 'absolute'...)",
    )
    grade.part(
        "no key Grafana's schema does not know",
        1,
        not unknown,
        expected="only keys of the dashboard schema and of each panel's plugin",
        found=", ".join(unknown[:6]),
        hint="a misspelt key is dropped by Grafana without a word: fieldConfig, not field_config",
    )
    ids = [p.get("id") for p in model.get("panels") or [] if isinstance(p, dict)]
    time = model.get("time") if isinstance(model.get("time"), dict) else {}
    grade.part(
        "a uid, a title, a time range and unique panel ids",
        1,
        bool(model.get("uid"))
        and bool(model.get("title"))
        and time.get("from")
        and time.get("to")
        and len(set(ids)) == len(ids)
        and None not in ids,
        expected="uid and title set, time {from, to} (e.g. now-6h to now), each panel its own id",
        found=f"uid {model.get('uid')!r}, title {model.get('title')!r}, time {time or None}, "
        f"panel ids {ids}",
        hint="a provisioned dashboard is found by its uid; the time range is the one "
        "v.timeRangeStart and v.timeRangeStop take when it opens",
    )


@pytest.mark.points(2)
def test_everything_queries_the_provisioned_datasource(submission, grade):
    """Each panel, each query and the variable name the datasource the stack provisions."""
    model = _model(submission)
    want = provisioned()
    panels = [p for p in model.get("panels") or [] if isinstance(p, dict)]
    variables = (model.get("templating") or {}).get("list") or []
    refs = [(f"panel {p.get('title')!r}", p.get("datasource")) for p in panels]
    refs += [
        (f"a query of panel {p.get('title')!r}", t.get("datasource", p.get("datasource")))
        for p in panels
        for t in p.get("targets") or []
        if isinstance(t, dict)
    ]
    refs += [
        (f"variable {v.get('name')!r}", v.get("datasource"))
        for v in variables
        if isinstance(v, dict)
    ]
    wrong = [
        f"{where}: {ref!r}"
        for where, ref in refs
        if not isinstance(ref, dict) or {k: ref.get(k) for k in want} != want
    ]
    grade.part(
        "the provisioned InfluxDB datasource, by its uid",
        2,
        bool(panels) and not wrong,
        expected=f"datasource {want} ({PROVISIONING.relative_to(REPO_ROOT)})",
        found="; ".join(wrong[:4]) or "no panels",
        hint="a datasource's name can change and differs between Grafanas; the "
        "provisioning file fixes its uid, so the dashboard names that",
    )


def _variable(model: dict) -> dict:
    variables = [
        v for v in (model.get("templating") or {}).get("list") or [] if isinstance(v, dict)
    ]
    found = [v for v in variables if v.get("name") == "device"]
    expect(
        found,
        "no template variable named `device`",
        expected="templating.list with a query variable `device`",
        found=[v.get("name") for v in variables] or "no variables",
    )
    return found[0]


@pytest.mark.points(2)
def test_the_device_variable_lists_the_devices(submission, sandbox, admin, grade):
    """`device`: a multi-value query variable listing the devices that report in the range."""
    model = _model(submission)
    readings = Readings(admin, sandbox, random.Random())
    variable = _variable(model)
    grade.part(
        "a query variable that can select several devices",
        1,
        variable.get("type") == "query" and variable.get("multi") is True,
        expected='type "query", multi true',
        found={k: variable.get(k) for k in ("type", "multi", "includeAll")},
    )
    query = variable.get("query")
    query = query.get("query") if isinstance(query, dict) else query
    tables, error = _run(admin, sandbox, readings, str(query or ""), list(SELECTED))
    values = sorted({str(r.get_value()) for t in tables for r in t.records})
    missing = _uses_macros(str(query), "v.timeRangeStart")
    want = sorted(DEVICES)
    grade.part(
        "its query gives the devices that reported in the dashboard's range",
        1,
        values == want and not missing,
        expected=f"{want}: not 'retired' (before the range), not another measurement's tag",
        found=error or f"{values}; macros missing: {missing}",
        hint='the range\'s readings, keep(columns: ["device"]), group(), distinct(column: '
        '"device"); schema.tagValues() reads the index, which also lists series with no '
        "reading in the range",
    )


@pytest.mark.points(3)
def test_temperature_per_device_over_time(submission, sandbox, admin, grade):
    """A time series panel: a series per selected device of v.windowPeriod means, in °C."""
    model = _model(submission)
    readings = Readings(admin, sandbox, random.Random())
    panel = _panel(model, "timeseries")
    query = _query(panel)
    tables, error = _run(admin, sandbox, readings, query, list(SELECTED))
    series = {}
    for table in tables:
        for record in table.records:
            device = record.values.get("device")
            series.setdefault(device, []).append((ns_of(record.get_time()), record.get_value()))
    want = {device: readings.window_means(device) for device in SELECTED}
    right = set(series) == set(want) and all(
        len(series[d]) == len(want[d])
        and all(
            t == wt and isinstance(v, float) and math.isclose(v, wv, rel_tol=1e-9)
            for (t, v), (wt, wv) in zip(sorted(series[d]), want[d], strict=True)
        )
        for d in want
    )
    shown = {d: [(show_ns(t), v) for t, v in s[:2]] for d, s in series.items()}
    grade.part(
        "one series per selected device: the mean temperature of each v.windowPeriod",
        2,
        right,
        expected=f"series for {list(SELECTED)}, e.g. {want[SELECTED[0]][:2]} (window end ns, mean)",
        found=error
        or f"series for {sorted(map(str, series))}; first values {shown}"
        + f"; macros missing: {_uses_macros(query, *MACROS)}",
        hint="range(start: v.timeRangeStart, stop: v.timeRangeStop), the device filter "
        "r.device =~ /^${device:regex}$/, aggregateWindow(every: v.windowPeriod, fn: mean)",
    )
    unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
    grade.part(
        "the unit is degrees Celsius",
        1,
        unit == "celsius",
        expected='fieldConfig.defaults.unit "celsius"',
        found=repr(unit),
    )


@pytest.mark.points(2)
def test_latest_humidity_as_a_stat(submission, sandbox, admin, grade):
    """A stat panel: each selected device's latest humidity, with its unit and thresholds."""
    model = _model(submission)
    readings = Readings(admin, sandbox, random.Random())
    panel = _panel(model, "stat")
    tables, error = _run(admin, sandbox, readings, _query(panel), list(SELECTED))
    found = sorted((r.values.get("device"), r.get_value()) for t in tables for r in t.records)
    want = sorted((d, readings.series[d][-1][2]) for d in SELECTED)
    grade.part(
        "the latest humidity of each selected device",
        1,
        [repr(f) for f in found] == [repr(w) for w in want],
        expected=want,
        found=error or first_differences(want, found, limit=2),
        hint="the humidity field, the device filter, then last(): one value per device",
    )
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    steps = (defaults.get("thresholds") or {}).get("steps") or []
    grade.part(
        "unit %H and thresholds with at least two steps",
        1,
        defaults.get("unit") == "humidity" and len(steps) >= 2,
        expected='unit "humidity" and thresholds {mode, steps: [base, ...]}',
        found=f"unit {defaults.get('unit')!r}, {len(steps)} threshold steps",
    )


@pytest.mark.points(3)
def test_a_table_of_devices_and_their_last_report(submission, sandbox, admin, grade):
    """A table panel: one table, a row per selected device with its last report time."""
    model = _model(submission)
    readings = Readings(admin, sandbox, random.Random())
    panel = _panel(model, "table")
    tables, error = _run(admin, sandbox, readings, _query(panel), list(SELECTED))
    rows = []
    for table in tables:
        for record in table.records:
            times = [
                v
                for k, v in record.values.items()
                if isinstance(v, datetime) and k not in ("_start", "_stop")
            ]
            rows.append((record.values.get("device"), ns_of(times[0]) if len(times) == 1 else None))
    want = sorted((d, readings.series[d][-1][0]) for d in SELECTED)
    grade.part(
        "a row per selected device with the time of its last reading",
        2,
        sorted(rows, key=repr) == want,
        expected=[(d, show_ns(ns)) for d, ns in want],
        found=error or first_differences(want, sorted(rows, key=repr), limit=2),
        hint="last() per device, keep the device and the time (renamed if you like)",
    )
    grade.part(
        "one table, not one per device",
        1,
        len(tables) == 1,
        expected="a single table (group() at the end)",
        found=error or f"{len(tables)} tables",
        hint="Grafana shows each Flux table as a frame of its own: group() merges them",
    )
