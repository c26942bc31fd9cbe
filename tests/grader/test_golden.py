"""The call runner's answers, compared with checked-in JSON (as Exercism's runners test
their own output): each function of golden/student.py is called contained, and what the
grader receives must be exactly golden/calls.json. UPDATE_GOLDEN=1 rewrites the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from grader import codec
from grader.submission import Submission

from .conftest import needs_sandbox

GOLDEN = Path(__file__).with_name("golden")
CALLS = [  # (function, args, kwargs)
    ("typed_values", [], {}),
    ("frame", [], {}),
    ("raises_with_fields", [], {}),
    ("prints_then_returns", [], {}),
    ("not_yet", [], {}),
    ("unreadable", [], {}),
    ("exits", [], {}),
    ("takes_arguments", [1], {"c": 3}),
    ("missing", [], {}),
]


def _observed(result) -> dict:
    """What a check sees of a call, as JSON: everything but the time it took."""
    data = {k: v for k, v in vars(result).items() if k != "seconds"}
    data["value"] = codec.encode(result.value)
    return data


@needs_sandbox
def test_the_runner_reports_each_call_exactly_as_recorded(tmp_path: Path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "student.py").write_text((GOLDEN / "student.py").read_text())
    code = Submission(folder, "student", {}, timeout=20, isolation="required")
    try:
        seen = {f: _observed(code.call(f, *args, **kwargs)) for f, args, kwargs in CALLS}
    finally:
        code.close()
    path = GOLDEN / "calls.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(seen, indent=2, sort_keys=True) + "\n")
    assert seen == json.loads(path.read_text())


@pytest.mark.parametrize("name", ["typed_values", "frame"])
def test_recorded_values_decode_to_what_the_student_returned(name: str):
    recorded = json.loads((GOLDEN / "calls.json").read_text())[name]["value"]
    value = codec.decode(recorded)
    assert codec.encode(value) == recorded  # the round trip is exact
    if name == "typed_values":
        assert type(value["int"]) is int and type(value["float"]) is float
        assert value["when"].utcoffset().total_seconds() == 5.5 * 3600
        assert value["naive"].tzinfo is None and value["nan"] != value["nan"]
    else:
        assert list(value.columns) == ["_time", "rpm", "load"]
        assert str(value["rpm"].dtype) == "int64" and str(value["_time"].dtype).endswith("UTC]")
