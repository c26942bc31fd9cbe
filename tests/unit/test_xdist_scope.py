"""Which tests `./course test` keeps together on one pytest-xdist worker."""

from __future__ import annotations

from tests.conftest import xdist_scope


def test_a_pages_examples_share_a_worker_and_other_pages_do_not():
    first = xdist_scope("tests/docs/test_examples.py::test_example[topics/http-api.md:560:python]")
    later = xdist_scope("tests/docs/test_examples.py::test_example[topics/http-api.md:605:bash]")
    other = xdist_scope("tests/docs/test_examples.py::test_example[common-mistakes.md:63:python]")
    assert first == later != other


def test_the_docker_tests_and_the_site_tests_each_share_one():
    docker = {
        xdist_scope("tests/docker/test_backend.py::test_a"),
        xdist_scope("tests/docker/test_compose_stack.py::test_b[x]"),
    }
    site = {
        xdist_scope("tests/docs/test_site.py::test_nav"),
        xdist_scope("tests/docs/test_site.py::test_search"),
    }
    assert len(docker) == len(site) == 1 and docker != site


def test_any_other_test_goes_to_whichever_worker_is_free():
    a = "tests/grader/test_labs.py::test_buggy_variant_loses_exactly_its_points[tasks-a]"
    b = "tests/grader/test_labs.py::test_buggy_variant_loses_exactly_its_points[tasks-b]"
    assert xdist_scope(a) == a and xdist_scope(b) == b
