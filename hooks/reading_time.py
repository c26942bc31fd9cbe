"""A MkDocs hook: each lesson page says how long it takes to read, counted from its
own text, and the home page says how long the topics take in all.

Prose is read at 200 words a minute. Code (examples, diagrams) is not counted as
reading: the line says how many lines of examples the page has, to run or skim.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

WORDS_PER_MINUTE = 200
TIMED = ("topics/", "labs/", "common-mistakes.md", "setup.md")
TOPICS_TOTAL = "<!-- reading-time: topics -->"  # replaced on the home page

_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})[^\n]*\n.*?^\1\2[ \t]*$", re.M | re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_WORD = re.compile(r"[A-Za-z0-9][\w'\u2019.-]*")


def measure(markdown: str) -> tuple[int, int]:
    """(minutes of reading, lines of code) of a page's Markdown."""
    code_lines = sum(block.group(0).count("\n") - 1 for block in _FENCE.finditer(markdown))
    prose = _LINK_TARGET.sub("]", _COMMENT.sub("", _FENCE.sub("", markdown)))
    words = len(_WORD.findall(prose))
    return max(1, math.ceil(words / WORDS_PER_MINUTE)), code_lines


def _timed(src: str) -> bool:
    return src.startswith(TIMED) and not src.endswith("index.md")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """The page with its reading time under its title (the home page: the topics' total)."""
    src = page.file.src_uri
    if src == "index.md" and TOPICS_TOTAL in markdown:
        topics = sorted(Path(config["docs_dir"], "topics").glob("*.md"))
        total = sum(measure(path.read_text(encoding="utf-8"))[0] for path in topics)
        return markdown.replace(TOPICS_TOTAL, f"about {total} minutes")
    if not _timed(src):
        return markdown
    minutes, code = measure(markdown)
    note = f"*About {minutes} minutes of reading"
    note += f", and {code} lines of examples to run or skim.*" if code else ".*"
    title = re.search(r"^# .*$", markdown, re.M)
    if title is None:
        return f"{note}\n\n{markdown}"
    return f"{markdown[: title.end()]}\n\n{note}\n{markdown[title.end() :]}"
