"""Shared fixtures for the real-browser tests: one Streamlit server per test module on a free
port with a fresh store (the studio seeds it), Debian's Chromium driven by Playwright, and a
screenshot of each step in test-artifacts/e2e/."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import pytest
from install_support import missing, need

_playwright = need("playwright.sync_api", "The browser tests")
expect, sync_playwright = _playwright.expect, _playwright.sync_playwright

CHROMIUM = "/usr/bin/chromium"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = os.path.join(ROOT, "test-artifacts", "e2e")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

pytestmark = [pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Studio:
    url: str  # http://127.0.0.1:<port>/
    store: str  # the store folder the studio opened (tests may open it too)
    pid: int


@contextmanager
def launched(store, tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[Studio]:
    """``streamlit run app/studio.py`` on a free port over ``store``, until the block ends."""
    uploads = tmp_path_factory.mktemp("e2e-uploads")
    port = _free_port()
    log = open(tmp_path_factory.mktemp("e2e-log") / "streamlit.log", "w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/studio.py", "--server.port", str(port),
         "--server.address", "127.0.0.1"],
        cwd=ROOT, env={**os.environ, "FEATURESTORE_HOME": str(store), "TMPDIR": str(uploads), **env}, stdout=log,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"the studio did not start:\n{log.read()}")
        time.sleep(0.3)
    try:
        yield Studio(url, str(store), server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:  # a studio stuck in a run: never leave it behind
            server.kill()
            server.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory: pytest.TempPathFactory):
    """The studio on a free port and an empty store (which it seeds)."""
    with launched(tmp_path_factory.mktemp("e2e") / "store", tmp_path_factory) as studio:
        yield studio


@pytest.fixture(scope="module")
def studio(studio_server: Studio) -> str:
    """The studio's base URL."""
    return studio_server.url


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        missing(f"The browser tests need Debian's Chromium at {CHROMIUM}", apt="chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def seed(browser, studio_server: Studio) -> None:
    """Open the studio once, so it seeds its empty store with the sample data (as a first visit does)."""
    tab = browser.new_page(base_url=studio_server.url)
    tab.goto("/")
    settle(tab, "Feature groups")
    tab.close()


@pytest.fixture
def page(browser, studio, request):
    """A fresh browser tab on the studio; every request it makes is in ``tab.requests``. A failed
    test leaves a screenshot of the page as it failed in test-artifacts/e2e/failed-<test>.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1500}, accept_downloads=True, base_url=studio)
    tab = context.new_page()
    tab.requests = []
    tab.on("request", lambda r: tab.requests.append(r.url))
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot(tab, f"failed-{request.node.name}", full_page=True)
    context.close()


def outside_requests(page, studio: str) -> list[str]:
    """Requests to any host but the studio's own (data: and blob: URLs never leave the browser)."""
    return [u for u in page.requests if not u.startswith((studio, "data:", "blob:", "about:"))]


def settle(page, text: str | None = None) -> None:
    """Wait until Streamlit has finished running the script (and ``text`` shows)."""
    if text:
        expect(page.get_by_text(text, exact=False).first).to_be_visible(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(300)


def choose(page, box, option: str) -> None:
    """Pick ``option`` in a select box, opening it again if a rerun closed it before the list showed."""
    for _ in range(3):
        box.click()
        choice = page.get_by_role("option", name=option, exact=True)
        try:
            choice.wait_for(timeout=5000)
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: the list did not open, try again
            continue
        choice.click()
        settle(page)
        return
    raise AssertionError(f"the select box never offered {option!r}")


def new_pipeline_form(page, name: str, target: str, inputs: str):
    """The Pipelines page's "New pipeline" form, opened and filled with a name, a target and one
    input group; returns the form for the rest (SQL, mode, schedule)."""
    page.goto("/pipelines")
    settle(page, "customer_spend_daily")
    page.get_by_text("New pipeline", exact=True).click()
    form = page.get_by_test_id("stExpanderDetails").first
    form.get_by_role("textbox", name="Name").fill(name)
    form.get_by_role("textbox", name="Name").press("Tab")
    settle(page)
    choose(page, form.get_by_role("combobox", name="Target feature group"), target)
    choose(page, form.get_by_role("combobox", name="Input feature groups"), inputs)
    page.keyboard.press("Escape")
    settle(page)
    return form


def shot(page, name: str, full_page: bool = False) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=full_page)


