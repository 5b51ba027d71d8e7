"""Debian's Chromium driven by Playwright (never a downloaded browser), and screenshots a person can look at."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from tests.e2e.flo import Creator

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".run" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@contextmanager
def chromium() -> Iterator[Browser]:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium is missing: `make browser` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Page, name: str) -> Path:
    """Save the whole page as .run/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def visitor(browser: Browser, base_url: str, timezone: str = "America/New_York", **options: Any) -> BrowserContext:
    """A browser profile of its own (cookies included), on a phone unless told otherwise."""
    context = browser.new_context(
        base_url=base_url, timezone_id=timezone, viewport=options.pop("viewport", PHONE), locale="en-US", **options
    )
    context.set_default_timeout(15_000)
    return context


def signed_in(browser: Browser, base_url: str, creator: Creator, next_path: str = "/dashboard/bookings") -> Page:
    """A creator's desktop browser, signed in through the local sign-in route; the page is at next_path."""
    page = visitor(browser, base_url, creator.timezone, viewport=DESKTOP).new_page()
    page.goto("/dev/sign-in?" + urlencode({"token": creator.token, "next": next_path}))
    return page
