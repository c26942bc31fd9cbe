"""The site's reading times (hooks/reading_time.py) count prose, not code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

HOOK = Path(__file__).resolve().parents[2] / "hooks" / "reading_time.py"
spec = importlib.util.spec_from_file_location("reading_time", HOOK)
reading_time = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reading_time)


def test_prose_is_timed_and_code_only_counted():
    prose = " ".join(["word"] * 401)  # just over two minutes at 200 words a minute
    code = '=== "Python"\n\n    ```python\n    a = 1\n    b = 2\n    ```\n'
    comment = '<!-- example: skip reason="not words a reader reads" -->\n'
    link = "[a page](https://example.com/a/very/long/address/that/is/not/read)\n"
    assert reading_time.measure(f"# Title\n\n{prose}\n\n{comment}{code}{link}") == (3, 2)
    assert reading_time.measure("# Title\n\nshort") == (1, 0)
