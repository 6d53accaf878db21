"""Headless Chromium for the page tests: Debian's ``/usr/bin/chromium`` driven by Playwright, no browser download.

Without Playwright or Chromium a test skips, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("STREETWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def browser_or_skip() -> Any:
    """Playwright's sync API, or skip (fail under CI=true) when it or Chromium is missing."""
    missing: list[str] = []
    sync_playwright: Any = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright package (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    if missing:
        message = "the page test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + " -- required when CI=true")
        pytest.skip(message)
    return sync_playwright
