"""The course site builds cleanly and works in a real browser.

`mkdocs build --strict` must pass with no warning (broken links, missing nav
entries). Then headless Chromium (the system's, never a downloaded one) opens
the built site served on localhost and uses it as a reader would: navigation,
search and content tabs. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from influx_labs.services.process import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VIEWPORT = {"width": 1280, "height": 900}  # the default width every page is judged at
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).parent / "mkdocs"
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # the theme's end-of-life banner
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    problems = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not problems, log
    return out


def test_strict_build_has_every_page(site):
    for page in (
        "index.html",
        "setup/index.html",
        "topics/http-api/index.html",
        "common-mistakes/index.html",
        "labs/http_api/index.html",
        "instructors/index.html",
        "reference/index.html",
        "search/search_index.json",
    ):
        assert (site / page).is_file(), page


@pytest.fixture(scope="module")
def served(site) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(site),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def page(served):
    if CHROMIUM is None:
        reason = "Chromium is not installed (apt-get install chromium)"
        if os.environ.get("INFLUX_LABS_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def test_home_page_and_navigation(page, served):
    page.goto(served + "/")
    assert "InfluxDB 2.x integrations" in page.locator("h1").first.inner_text()
    # Diagrams render without a CDN: the <pre class="mermaid"> source is replaced by
    # a <div class="mermaid"> holding the drawing (in a closed shadow root).
    diagram = page.locator("div.mermaid").first
    diagram.wait_for()
    assert diagram.bounding_box()["height"] > 30
    assert page.locator("pre.mermaid").count() == 0
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=False)
    page.locator(".md-tabs__link", has_text="Topics").first.click()
    page.wait_for_url("**/topics/**")
    assert page.locator("h1").first.inner_text().strip()
    page.locator(".md-nav__link", has_text="Best practices").first.click()
    page.wait_for_url("**/topics/best-practices/**")


def test_search_finds_pages(page, served):
    page.goto(served + "/")
    search = page.locator("input.md-search__input")
    search.click()
    search.press_sequentially("retention", delay=50)
    results = page.locator(".md-search-result__item")
    results.first.wait_for()
    assert results.count() > 0


def test_content_tabs_switch(page, served):
    page.goto(served + "/topics/http-api/")
    tabs = page.locator(".tabbed-set").first
    labels = tabs.locator(".tabbed-labels > label")
    assert labels.count() >= 2
    second = labels.nth(1)
    name = second.inner_text().strip()
    second.click()
    blocks = tabs.locator(".tabbed-content > .tabbed-block")
    expect(blocks.nth(1)).to_be_visible()  # the second tab's code, e.g. Python
    expect(blocks.nth(0)).to_be_hidden()
    assert name
    tabs.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "topic-http-api.png"), full_page=False)


# The theme draws each diagram in a closed shadow root; opened here, for the test only,
# so that the drawing can be measured. It changes nothing of how it is drawn.
OPEN_SHADOW_ROOTS = """
Element.prototype.attachShadow = ((attach) => function (init) {
  return attach.call(this, {...init, mode: "open"});
})(Element.prototype.attachShadow);
"""
MEASURE_DIAGRAMS = """() => {
  const body = parseFloat(getComputedStyle(document.querySelector(".md-typeset")).fontSize);
  return [...document.querySelectorAll("div.mermaid")].map((host) => {
    const svg = host.shadowRoot && host.shadowRoot.querySelector("svg");
    const box = svg.viewBox.baseVal;
    const width = svg.getBoundingClientRect().width;
    const scale = box && box.width ? width / box.width : 1;
    const sizes = [...svg.querySelectorAll("text, foreignObject span, foreignObject p")]
      .filter((label) => label.textContent.trim())
      .map((label) => parseFloat(getComputedStyle(label).fontSize) * scale);
    return {body, smallest: Math.min(...sizes), labels: sizes.length, width: Math.round(width),
            column: Math.round(host.getBoundingClientRect().width)};
  });
}"""
DIAGRAM_PAGES = sorted(
    str(path.relative_to(ROOT / "docs").with_suffix("")).removesuffix("index")
    for path in (ROOT / "docs").rglob("*.md")
    if "```mermaid" in path.read_text()
)


def test_every_diagram_is_readable_at_the_default_width(page, served):
    """Each diagram's smallest label is at least the body text's size once drawn at the
    default width (a wide diagram scaled down to the column is unreadable), and the
    diagram fits the column (a reader need not scroll to see it whole)."""
    reader = page.context.browser.new_page(viewport=VIEWPORT)
    reader.add_init_script(OPEN_SHADOW_ROOTS)
    problems = []
    try:
        for name in DIAGRAM_PAGES:
            reader.goto(f"{served}/{name}/".replace("//", "/").replace(":/", "://"))
            count = reader.locator("pre.mermaid, div.mermaid").count()
            reader.wait_for_function(
                "(n) => [...document.querySelectorAll('div.mermaid')]"
                ".filter((d) => d.shadowRoot && d.shadowRoot.querySelector('svg')).length === n",
                arg=count,
            )
            for number, found in enumerate(reader.evaluate(MEASURE_DIAGRAMS), 1):
                assert found["labels"], f"{name}: diagram {number} has no text"
                if found["smallest"] < found["body"] - 0.5:
                    problems.append(
                        f"{name} diagram {number}: {found['smallest']:.1f}px < {found['body']}px"
                    )
                if found["width"] > found["column"]:
                    problems.append(
                        f"{name} diagram {number}: {found['width']}px wide in a "
                        f"{found['column']}px column (a reader must scroll)"
                    )
    finally:
        reader.close()
    assert not problems, "diagrams hard to read: " + "; ".join(problems)


AXE = ROOT / "tests" / "docs" / "node" / "node_modules" / "axe-core" / "axe.min.js"
RUN_AXE = """async () => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]}});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({id: v.id, impact: v.impact, count: v.nodes.length,
                  where: v.nodes[0].target.join(" "), why: v.nodes[0].failureSummary}));
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_page_has_a_serious_accessibility_violation(page, served, site, scheme):
    """axe-core's WCAG 2 A and AA rules, run in the browser on every page of the site in
    the light and the dark scheme: no serious or critical violation."""
    assert AXE.is_file(), f"axe-core is missing: npm ci --prefix {AXE.parents[2]}"
    pages = sorted(
        str(path.parent.relative_to(site))
        for path in site.rglob("index.html")
        if "assets" not in path.parts
    )
    reader = page.context.browser.new_page(viewport=VIEWPORT, color_scheme=scheme)
    found = []
    try:
        for name in pages:
            reader.goto(f"{served}/{'' if name == '.' else name + '/'}")
            reader.add_script_tag(path=str(AXE))
            for v in reader.evaluate(RUN_AXE):
                found.append(
                    f"{name} [{scheme}]: {v['id']} ({v['impact']}, {v['count']} element(s), "
                    f"e.g. {v['where']}: {v['why']})"
                )
    finally:
        reader.close()
    assert not found, "\n".join(found)
