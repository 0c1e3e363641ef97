"""Debian's Chromium, headless, through Playwright's sync API: for tests that open an HTML report
the way a user does and watch what the page logs, throws, fetches and alerts. CI installs the
browser, so a missing one fails the test instead of skipping it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched browser, closed at the end. While it runs, its event loop is the thread's
    running loop: build anything that needs asyncio.run before entering."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(
    browser: Any, path: Path, *, javascript: bool = True
) -> tuple[Any, dict[str, list[str]]]:
    """The page, loaded, and what it did: console messages, errors, requests and dialogs."""
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    seen: dict[str, list[str]] = {"console": [], "errors": [], "requests": [], "dialogs": []}
    page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))

    def dialog(d: Any) -> None:  # an alert() would mean a string reached the page unescaped
        seen["dialogs"].append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_timeout(200)  # let late console messages (CSP reports) arrive
    return page, seen
