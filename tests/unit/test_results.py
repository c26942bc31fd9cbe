"""Scoring and reports without servers: what a check earns from its parts and failure, and
what a report says when a grading run died before every check reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.results import CheckResult, Outcome, Part, Report


def _check(parts: list[Part], max_points: float = 4) -> CheckResult:
    return CheckResult("test_x", "X.", max_points, parts=parts)


@pytest.mark.parametrize(
    ("parts", "failure", "points", "outcome"),
    [
        ([], None, 4, Outcome.PASSED),  # no parts: all or nothing
        ([], "it raised", 0, Outcome.FAILED),
        ([Part("a", 1, True), Part("b", 3, True)], None, 4, Outcome.PASSED),
        ([Part("a", 1, True), Part("b", 3, False, "b is wrong")], None, 1, Outcome.PARTIAL),
        ([Part("a", 1, True)], None, 1, Outcome.PARTIAL),  # no point outside a part
        ([Part("a", 1, True)], "stopped", 1, Outcome.PARTIAL),  # b, never tried, is lost
        ([Part("a", 1, True), Part("b", 3, True)], "stopped", 4, Outcome.PASSED),
        ([Part("a", 1, False, "a")], "stopped", 0, Outcome.FAILED),
        ([Part("a", 3, True), Part("b", 3, True)], None, 4, Outcome.PASSED),  # never > max
    ],
)
def test_every_point_belongs_to_a_part(parts, failure, points, outcome):
    check = _check(parts)
    check.score(failure)
    assert (check.points, check.outcome) == (points, outcome)
    assert isinstance(check.points, float)


def test_feedback_lists_every_lost_part_then_the_failure():
    check = _check([Part("a", 1, False, "a: expected 1"), Part("b", 1, True)])
    check.score("the bridge stopped")
    assert check.feedback == "a: expected 1\n\nthe bridge stopped"


def test_an_infrastructure_error_is_not_gradable_and_costs_nothing():
    report = Report("http_api", "s", checks=[_check([]), _check([])])
    report.checks[0].score()
    report.checks[1].infra_error("a lab service failed")
    assert (report.score, report.max_score) == (4, 4)
    assert report.infra_errors == [report.checks[1]] and not report.full_marks


def test_a_check_that_never_reported_needs_a_regrade(tmp_path: Path):
    plan = [{"check": f"test_{n}", "title": n, "max_points": 2} for n in ("a", "b", "c")]
    done = CheckResult("test_b", "b", 2)
    done.score()
    lines = [json.dumps({"plan": plan, "isolation": "bubblewrap"}), json.dumps(done.to_dict())]
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    report = Report.load_jsonl(tmp_path / "r.jsonl", "lab", "s", "native")
    assert [c.check for c in report.checks] == ["test_a", "test_b", "test_c"]  # plan order
    assert [c.outcome for c in report.checks] == [
        Outcome.INFRA_ERROR, Outcome.PASSED, Outcome.INFRA_ERROR
    ]  # fmt: skip
    assert "never reported" in report.checks[0].feedback
    assert not report.full_marks and report.to_dict()["needs_regrade"]
    assert report.isolation == "bubblewrap"


def test_a_report_round_trips_through_its_versioned_json():
    check = _check([Part("a", 1, False, "a")])
    check.score("stopped")
    report = Report("http_api", "s", "native", [check], isolation="bubblewrap")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["schema"] == 1
    again = Report.from_dict(data)
    assert again.to_dict() == report.to_dict()
    with pytest.raises(ValueError, match="schema"):
        Report.from_dict({**data, "schema": 0})
