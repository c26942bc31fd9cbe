"""The grader grades correctly: every reference solution gets full marks, every skeleton
fails each unfinished check for the stated reason, and each realistic bug costs exactly
the points it should, the same on every run (live services)."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
import yaml

from grader.labs import LABS, REPO_ROOT
from grader.results import Outcome

from .conftest import patched, patched_notebook, points


def _variants() -> list[tuple[str, dict]]:
    """Every lab's buggy variants; a lab without its variants file is an error, not a skip."""
    return [
        (name, variant)
        for name in LABS
        for variant in importlib.import_module(f"tests.grader.variants_{name}").VARIANTS
    ]


def _nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    if isinstance(node, list):
        return [page for item in node for page in _nav_pages(item)]
    return []


@pytest.mark.parametrize("lab", LABS)
def test_every_lab_is_complete_in_all_its_places(lab: str):
    """One lab, one name, five places (and a page in the site's navigation)."""
    spec = LABS[lab]
    module = spec.file
    places = {
        "skeleton": spec.skeleton / module,
        "solution": spec.solution / module,
        "checks": spec.checks,
        "guide": REPO_ROOT / "docs" / "labs" / f"{lab}.md",
        "variants": Path(__file__).with_name(f"variants_{lab}.py"),
    }
    assert {what: str(path) for what, path in places.items() if not path.is_file()} == {}
    variants = importlib.import_module(f"tests.grader.variants_{lab}").VARIANTS
    assert len(variants) >= 3 and len({v["name"] for v in variants}) == len(variants)
    config = (REPO_ROOT / "mkdocs.yml").read_text()
    nav = yaml.load(config, Loader=yaml.BaseLoader)["nav"]  # no tags: only the structure
    assert f"labs/{lab}.md" in _nav_pages(nav)


@pytest.mark.parametrize("lab", LABS)
def test_reference_solution_gets_full_marks(lab, grade_folder):
    report = grade_folder(lab, LABS[lab].solution)
    lost = {c.check: c.feedback for c in report.checks if c.outcome != Outcome.PASSED}
    assert not lost, lost
    assert report.full_marks and report.score > 0
    # Every point belongs to a declared part (or the check is all or nothing).
    unparted = {
        c.check: (c.max_points, sum(p.points for p in c.parts))
        for c in report.checks
        if c.parts and sum(p.points for p in c.parts) != c.max_points
    }
    assert unparted == {}, "check: (points, sum of its parts)"


@pytest.mark.parametrize("lab", LABS)
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
    shutil.copytree(spec.solution, tmp_path, dirs_exist_ok=True)
    target = tmp_path / variant.get("file", spec.file)  # the module, or another file of it
    patch = patched_notebook if target.suffix == ".ipynb" else patched
    target.write_text(patch(target.read_text(), variant["patches"]))
    report = grade_folder(lab, tmp_path)
    full = {c.check: c.max_points for c in report.checks}
    lost = {name: full[name] - got for name, got in points(report).items() if got < full[name]}
    # A string, not a dict: pytest shortens the repr of anything else, and in CI the
    # whole feedback is what tells why a variant lost other points.
    feedback = "\n".join(f"{c.check}: {c.feedback}" for c in report.checks if c.feedback)
    assert lost == variant["loses"], feedback
    assert not report.infra_errors
    # Where stated, the feedback names what went wrong in the student's own terms.
    if "says" in variant:
        assert any(variant["says"] in c.feedback for c in report.checks), variant["says"]
    # The same verdict on another run: the checks it fails, graded again on their own.
    # One after the other: graded at once, a check's timing margins shrink under the load.
    again = points(grade_folder(lab, tmp_path, "-k", " or ".join(variant["loses"])))
    assert again == {name: points(report)[name] for name in variant["loses"]}


def test_results_are_identical_over_repeated_runs(grade_folder):
    lab = "http_api"
    first = points(grade_folder(lab, LABS[lab].solution))
    assert points(grade_folder(lab, LABS[lab].solution)) == first
    skeleton = points(grade_folder(lab, LABS[lab].skeleton))
    assert points(grade_folder(lab, LABS[lab].skeleton)) == skeleton
