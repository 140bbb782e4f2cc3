"""Fixtures of the page tests (imported by them): one headless Chromium for all of them (Debian's chromium
package, driven by Playwright); the tests that need it skip, saying why, when there is no chromium binary."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from scene import tracks_doc

# Without the background-networking flags Chromium keeps trying to reach its services, which a closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_binary() -> str | None:
    return os.environ.get("POSETRACK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary (apt-get install chromium, or set POSETRACK_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page and every console message and uncaught error it produced."""

    def __init__(self, browser, width: int = 1400, height: int = 1000) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def open_report(self, path) -> None:
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function("document.body.dataset.ready === '1'", timeout=20_000)


@pytest.fixture
def new_page(browser):
    pages = []

    def make(**kwargs) -> Page:
        pages.append(Page(browser, **kwargs))
        return pages[-1]

    yield make
    for page in pages:
        page.page.close()


@pytest.fixture(scope="session")
def scene_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("scene") / "scene.json"
    path.write_text(json.dumps(tracks_doc()))
    return path
