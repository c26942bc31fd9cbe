"""A grading run with ``--backend docker`` gives every reference solution full marks."""

from __future__ import annotations

import pytest

from grader.cli import grade
from grader.labs import LABS
from tests.grader.conftest import lab_points

from .conftest import docker_objects

pytestmark = [pytest.mark.usefixtures("docker_engine"), pytest.mark.timeout(600)]


@pytest.mark.parametrize("lab", sorted(LABS))
def test_solution_gets_full_marks_on_the_docker_backend(lab: str) -> None:
    before = docker_objects()
    report, output = grade(lab, LABS[lab].solution, "docker")
    assert report.backend == "docker"
    assert report.checks, output[-3000:]
    # The feedback as one string: pytest shortens a dict, and in CI it tells why.
    lost = "\n".join(f"{c.check}: {c.feedback}" for c in report.checks if c.points < c.max_points)
    assert not lost, lost
    assert report.full_marks
    assert report.score == lab_points(lab)
    # The run's own containers are gone when it ends.
    assert docker_objects() == before
