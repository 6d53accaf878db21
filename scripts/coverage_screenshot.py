"""Write docs/images/coverage-page.png: the coverage page with the three sample patrols processed for real.

Run from the repository root (it uses the page test's helpers, and Debian's Chromium through Playwright):

    python scripts/coverage_screenshot.py [OUT.png]

It processes the sample clips (about 20 s on two cores), serves the app on 127.0.0.1, signs in as a
supervisor in headless Chromium and screenshots /ui/coverage.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.coverage_page import coverage_site, open_coverage_page  # noqa: E402


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as root, coverage_site(Path(root)) as site, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = open_coverage_page(browser, site.url)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images" / "coverage-page.png")
