"""The grader grades correctly: every reference solution gets full marks, every skeleton
fails each unfinished check for the stated reason, and each realistic bug costs exactly
the points it should, the same on every run (live services)."""

from __future__ import annotations

import importlib

import pytest

from grader.labs import LABS
from grader.results import Outcome

from .conftest import patched, points

LABS_WITH_SOLUTIONS = [name for name, lab in LABS.items() if lab.solution.exists()]


def _variants() -> list[tuple[str, dict]]:
    found = []
    for name in LABS_WITH_SOLUTIONS:
        try:
            module = importlib.import_module(f"tests.grader.variants_{name}")
        except ModuleNotFoundError:
            continue
        found += [(name, v) for v in module.VARIANTS]
    return found


@pytest.mark.parametrize("lab", LABS_WITH_SOLUTIONS)
def test_reference_solution_gets_full_marks(lab, grade_folder):
    report = grade_folder(lab, LABS[lab].solution)
    lost = {c.check: c.feedback for c in report.checks if c.outcome != Outcome.PASSED}
    assert not lost, lost
    assert report.full_marks and report.score > 0


@pytest.mark.parametrize("lab", LABS_WITH_SOLUTIONS)
def test_skeleton_fails_every_check_as_not_implemented(lab, grade_folder):
    report = grade_folder(lab, LABS[lab].skeleton)
    assert report.score < report.max_score
    for check in report.checks:
        assert check.outcome == Outcome.FAILED, (check.check, check.outcome)
        assert "not implemented yet" in check.feedback, (check.check, check.feedback)


@pytest.mark.parametrize(
    ("lab", "variant"), _variants(), ids=[f"{lab}-{v['name']}" for lab, v in _variants()]
)
def test_buggy_variant_loses_exactly_its_points(lab, variant, grade_folder, tmp_path):
    spec = LABS[lab]
    source = (spec.solution / f"{spec.module}.py").read_text()
    (tmp_path / f"{spec.module}.py").write_text(patched(source, variant["patches"]))
    report = grade_folder(lab, tmp_path)
    full = {c.check: c.max_points for c in report.checks}
    lost = {name: full[name] - got for name, got in points(report).items() if got < full[name]}
    assert lost == variant["loses"], {c.check: c.feedback for c in report.checks if c.feedback}
    assert not report.infra_errors


def test_results_are_identical_over_repeated_runs(grade_folder, tmp_path):
    lab = "http_api"
    first = points(grade_folder(lab, LABS[lab].solution))
    assert points(grade_folder(lab, LABS[lab].solution)) == first
    skeleton = points(grade_folder(lab, LABS[lab].skeleton))
    assert points(grade_folder(lab, LABS[lab].skeleton)) == skeleton
