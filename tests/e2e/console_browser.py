"""A real browser for the console's end-to-end tests: Debian's Chromium driven by Playwright,
and axe-core injected into pages for accessibility checks.

``playwright install`` cannot download browsers here, so the system's ``/usr/bin/chromium`` is
launched (``apt-get install chromium``; ``.ci/run`` installs it). axe-core comes from npm
(``tests/e2e/axe/package.json``; ``make test`` and ``.ci/run`` run ``npm ci`` there). Where either
is missing the browser tests skip, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# TEST_CHROMIUM, not ONCALL_…: the suite's conftest clears ONCALL_ variables.
CHROMIUM = Path(os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
LAUNCH_ARGS = ["--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


def missing(what: str) -> None:
    """Skip, or fail under CI=true: CI must run the browser tests."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (CI must run the console's browser tests; .ci/run installs it)")
    pytest.skip(what)


def launch() -> Iterator[Any]:
    """One headless Chromium (Playwright's sync API), closed afterwards."""
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page as it is now."""
    if not AXE.exists():
        missing(f"{AXE} is missing (cd tests/e2e/axe && npm ci)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def assert_accessible(page: Any) -> None:
    found = axe_violations(page)
    assert [] == found, f"axe on {page.url}: {found}"


def assert_no_horizontal_scroll(page: Any) -> None:
    width = page.viewport_size["width"]
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} scrolls sideways at {width}px ({scroll}px wide)"
