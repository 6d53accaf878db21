"""The coverage page end to end: three patrol clips processed for real, uvicorn, headless Chromium.

The map is screenshotted and its pixels read where Leaflet drew the middle of a street: the covered
one (Renmin Rd's first block, driven two hours ago) is green, the stale one (its second block, ten
days ago, a primary road) amber, a never patrolled one red. The gaps table lists the stale and never
patrolled segments with their road chiefs. Without Playwright or Chromium it skips (fails under CI=true).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from streetwatch.api.web_coverage import STATUS_COLOURS
from streetwatch.datasets.road_network import segment_ids
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip
from tests.e2e.coverage_page import CoverageSite, coverage_site, open_coverage_page, segment_middle_px

pytestmark = pytest.mark.slow  # processing the clips takes about 20 s on two busy cores

SCREENSHOT = Path("/tmp/coverage-page.png")
EXPECTED = {"renmin-1": "covered", "zhongshan-2": "covered", "renmin-2": "stale", "heping-1": "never",
            "wenhua-2": "never"}
NEVER = set(segment_ids()) - {"renmin-1", "renmin-2", "zhongshan-1", "zhongshan-2", "jianshe-1"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoverageSite]:
    with coverage_site(tmp_path_factory.mktemp("coverage-page")) as served:
        yield served


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


def colour_near(image: np.ndarray, x: float, y: float, colour: np.ndarray, radius: int = 3) -> float:
    """The smallest distance (RGB) from ``colour`` among the pixels within ``radius`` of (x, y)."""
    xi, yi = round(x), round(y)
    window = image[max(yi - radius, 0):yi + radius + 1, max(xi - radius, 0):xi + radius + 1, :3].astype(float)
    return float(np.min(np.linalg.norm(window - colour, axis=2)))


def test_the_coverage_page_draws_covered_stale_and_never_patrolled_streets(site: CoverageSite) -> None:
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = open_coverage_page(browser, site.url)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            shot = np.asarray(Image.open(io.BytesIO(page.locator("#coverage-map").screenshot())).convert("RGB"))
            where = {segment_id: segment_middle_px(page, segment_id) for segment_id in EXPECTED}
            legend = page.locator("#coverage-legend").inner_text()
            gaps = page.locator("#coverage-gaps tbody tr").all_inner_texts()
            grid_gaps = page.locator("#coverage-grid-gaps tbody tr").all_inner_texts()
        finally:
            browser.close()

    height, width = shot.shape[:2]
    for segment_id, status in EXPECTED.items():
        x, y = where[segment_id]
        assert 0 <= x < width and 0 <= y < height, (segment_id, x, y, width, height)
        wanted = rgb(STATUS_COLOURS[status])
        assert colour_near(shot, x, y, wanted) < 30, (segment_id, status, shot[round(y), round(x)])
        others = [rgb(c) for s, c in STATUS_COLOURS.items() if s != status]
        assert all(colour_near(shot, x, y, other, radius=1) > 60 for other in others), segment_id
    # A street drawn is a line of coloured pixels, not a dot: green all along Renmin Rd's first block.
    x1, y1 = where["renmin-1"]
    assert all(colour_near(shot, x1 + dx, y1, rgb(STATUS_COLOURS["covered"])) < 30 for dx in (-30, -15, 15, 30))

    assert "covered (4 road segments" in legend and "stale (1 road segment," in legend and "never (7" in legend
    listed = {row.split("\t")[0].strip() for row in gaps}
    assert listed == NEVER | {"renmin-2"}
    assert any("renmin-2" in row and "张伟" in row and "stale" in row for row in gaps), gaps
    assert [row.split("\t")[:4] for row in grid_gaps] == [["G-04", "北区网格", "城管执法一中队", "never"],
                                                          ["G-03", "文化巷网格", "城管执法二中队", "stale"]]
