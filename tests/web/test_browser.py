"""The dashboard in a real headless browser (Debian's Chromium driven by Playwright).

After real sandbox traffic applied by the worker, every page loads with no failed asset and
no console error, shows the figures ``courrier stats --json`` prints, draws its charts, and
a suppression removed in the browser is gone from the store. ``make test`` installs
Chromium; without it these tests skip, unless ``COURRIER_REQUIRE_BROWSER=1`` (CI) makes
them fail. With ``COURRIER_SCREENSHOTS=DIR`` each page is saved there (docs/screenshots).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from courrier.aws.ses import SesClient
from courrier.cli import main
from courrier.settings import Settings
from courrier.statuses import MessageStatus
from courrier.store import Store
from courrier.store.guard import record_doctor_run
from courrier.web import make_app
from tests.conftest import SandboxClient, free_port, uvicorn_serving
from tests.reputation import scenario

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCRIPT = "<script>alert(1)</script>"


def chromium() -> str:
    """Chromium's path, or skip (fail when the browser is required)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if found is None:
        problem = "Chromium is not installed (make test installs it: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright is not installed (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("COURRIER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"COURRIER_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)
    assert found is not None
    return found


@pytest.fixture
def dashboard(env: SandboxClient, store: Store) -> Iterator[str]:
    app = make_app(store, Settings(database_url="unused"), ses=SesClient)
    with uvicorn_serving(app, free_port()) as base:
        yield base


class Browser:
    """One page, with every failed response and console error of its loads collected."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.problems: list[str] = []
        self.shots = os.environ.get("COURRIER_SCREENSHOTS")
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        page.on("response", self._response)
        page.on("dialog", lambda d: self.problems.append(f"a script ran: {d.message}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} {response.url}")

    def open(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}", wait_until="load")
        self.check()

    def check(self) -> None:
        assert self.problems == [], self.problems
        assert self.page.locator('link[rel="stylesheet"]').count() == 1
        # The stylesheet applied: the header has the brand colour, not the default.
        background = self.page.eval_on_selector(
            "header", "e => getComputedStyle(e).backgroundColor"
        )
        assert background == "rgb(31, 78, 121)"

    def shot(self, name: str) -> None:
        if self.shots:
            Path(self.shots).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(self.shots) / f"{name}.png"))

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).first.inner_text()).strip()


@pytest.fixture
def browser(dashboard: str) -> Iterator[Browser]:
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = launched.new_context(viewport={"width": 1280, "height": 1000})
        try:
            yield Browser(context.new_page(), dashboard)
        finally:
            context.close()
            launched.close()


def stats_json(database_url: str) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(
        main, ["--database-url", database_url, "stats", "--json", "--days", "14", "--no-account"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    return {line["day"] if line["kind"] == "day" else line["kind"]: line for line in lines}


def check_overview(browser: Browser, window: dict[str, Any], today: dict[str, Any]) -> None:
    """The same figures as `courrier stats --json`, and three drawn charts."""
    browser.open("/")
    for name in scenario.EXPECTED:
        if name.endswith("_rate"):
            shown = browser.page.get_attribute(f'[data-rate="{name}"]', "data-value")
            assert float(shown) == pytest.approx(window[name]), name
        else:
            assert browser.text(f'#figures [data-figure="{name}"]') == str(window[name]), name
    row = f'#days tr[data-day="{today["day"]}"]'
    for name in ("messages", "recipients", "delivered", "hard_bounces", "rejects"):
        assert browser.text(f'{row} [data-figure="{name}"]') == str(today[name]), name
    heights = browser.page.eval_on_selector_all(
        "svg.chart",
        "charts => charts.map(c => [...c.querySelectorAll('rect')].map(r => r.getBBox().height))",
    )
    assert len(heights) == 3
    assert all(heights), "a chart has no bar"
    assert all(max(h) > 0 for h in heights), heights
    assert browser.text("#guard [data-guard-state]") == "low volume"  # 106 < 500 counted
    assert "SES sandbox" in browser.text("#doctor")
    browser.shot("overview")


def check_messages(browser: Browser, hostile: int) -> None:
    """A search by recipient, and the hostile message shown as text, not run."""
    browser.open("/messages")
    browser.page.fill('input[name="q"]', "script")
    browser.page.click('form button[type="submit"]')
    browser.page.wait_for_load_state("load")
    browser.check()
    assert SCRIPT in browser.text(f'tr[data-message="{hostile}"]')
    browser.open("/messages?q=listed0@example.net")
    browser.page.click("#messages a >> nth=1")
    browser.page.wait_for_load_state("load")
    browser.check()
    timeline = browser.text("#timeline")
    assert "Bounce Permanent/OnAccountSuppressionList" in timeline
    assert "Send" in timeline
    browser.shot("message")
    browser.open("/messages")
    browser.shot("messages")


def check_suppressions(browser: Browser, store: Store) -> None:
    """Remove one in the browser, through the confirmation page."""
    gone = f"bounce+0@{scenario.SIM}"
    assert gone in {s.address for s in store.suppressions()}
    browser.open("/suppressions")
    rows = browser.page.locator("#suppressions tr[data-address]").count()
    assert rows == len(store.suppressions())
    browser.shot("suppressions")
    browser.page.click(f'tr[data-address="{gone}"] a')
    browser.page.wait_for_load_state("load")
    browser.check()
    browser.page.click("#confirm")
    browser.page.wait_for_load_state("load")
    browser.check()
    assert f"removed {gone}" in browser.text(".notice")
    assert gone not in {s.address for s in store.suppressions()}


def check_account(browser: Browser) -> None:
    """SES's view from the sandbox, and a dry-run sync."""
    browser.open("/account")
    assert browser.text('[data-account="enforcement_status"]') == "HEALTHY"
    browser.page.click('#sync button[type="submit"]')
    browser.page.wait_for_load_state("load")
    browser.check()
    assert "Dry run" in browser.text("#sync-report")
    browser.shot("account")


def test_the_dashboard_in_a_real_browser(
    env: SandboxClient, store: Store, database_url: str, browser: Browser
) -> None:
    started = scenario.run(env, store)
    record_doctor_run(
        store,
        "warning",
        [
            {"check": "identity", "status": "ok", "detail": "verified", "fix": ""},
            {"check": "SES sandbox", "status": "warning", "detail": "production", "fix": ""},
        ],
    )
    hostile = store.record_message(
        sender="news@example.com",
        subject=f"Hi {SCRIPT}",
        configuration_set=None,
        recipients=[(f'"{SCRIPT}"@example.com', "to", "pending")],
    )
    store.finish_send(hostile, status=MessageStatus.FAILED, error=SCRIPT)
    figures = stats_json(database_url)
    check_overview(browser, figures["window"], figures[started.strftime("%Y-%m-%d")])
    check_messages(browser, hostile)
    check_suppressions(browser, store)
    check_account(browser)
