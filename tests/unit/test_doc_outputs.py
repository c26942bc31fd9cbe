"""The site's Output blocks: how they are found, and what they may differ in."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.examples import page_examples
from tests.docs.output import mismatch


def test_exact_output_matches_and_a_changed_value_does_not():
    assert mismatch("3 points\nmean 21.5\n", "3 points\nmean 21.5   \n\n") is None
    diff = mismatch("3 points\nmean 21.5\n", "3 points\nmean 21.6\n")
    assert diff is not None and "-mean 21.5" in diff and "+mean 21.6" in diff


def test_times_and_ids_match_any_time_and_id_but_not_other_text():
    shown = "2026-12-02T03:59:00+00:00 dev-1 0a1b2c3d4e5f6a7b\n"
    assert mismatch(shown, "2027-01-31T23:01:00+00:00 dev-1 ffffffffffffffff\n") is None
    assert mismatch(shown, "2027-01-31T23:01:00+00:00 dev-2 ffffffffffffffff\n") is not None
    assert mismatch(shown, "yesterday dev-1 ffffffffffffffff\n") is not None


def test_ellipsis_matches_within_a_line_and_whole_lines():
    assert mismatch("took ... s\n", "took 0.52 s\n") is None
    assert mismatch("took ... s\n", "took 0.52 ms\n") is not None
    shown = "Traceback (most recent call last):\n...\nKeyError: 'x'\n"
    assert mismatch(shown, "Traceback (most recent call last):\n  a\n  b\nKeyError: 'x'\n") is None
    assert mismatch(shown, "Traceback (most recent call last):\nKeyError: 'x'\n") is None
    assert mismatch(shown, "Traceback (most recent call last):\nKeyError: 'y'\n") is not None


def test_an_output_block_belongs_to_the_block_before_it_and_tabs_are_named(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nprint(1)\n```\n\n"
        '```text title="Output"\n1\n```\n\n'
        '=== "Python"\n\n    ```python\n    print(2)\n    ```\n\n'
        '    ```text title="Output"\n    2\n    ```\n\n'
        '=== "curl"\n\n    ```bash\n    echo 3\n    ```\n\n'
        "```python\nprint(4)\n```\n\n```text\nnot an output\n```\n"
    )
    examples = page_examples(page, tmp_path)
    assert [(e.tab, e.output) for e in examples] == [
        ("", "1\n"),
        ("Python", "2\n"),
        ("curl", None),
        ("", None),
    ]


def test_an_output_block_after_flux_is_refused(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text('```flux\nfrom(bucket: "labs")\n```\n\n```text title="Output"\n1\n```\n')
    with pytest.raises(ValueError, match="Output block is compared only after"):
        page_examples(page, tmp_path)
