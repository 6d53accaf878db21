"""The cases map's heat layer in headless Chromium: three generated months of cases, a supervisor signs in,
turns the heat map on for a period and kind, and the layer draws exactly the points ``GET /hotspots`` gives
for that period (the vendored Leaflet.heat canvas appears, with colour on it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.core.settings import Settings
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD, UserSpec, add_users_at, login
from tests.casework.city_builders import build_city
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip
from tests.live_server import serve_on_loopback

SCREENSHOT = Path("/tmp/heat-layer.png")
SUPERVISOR = "sup_heat"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("heat-page")
    db_url = f"sqlite:///{root / 'streetwatch.db'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    build_city(make_session_factory(engine), ["2026-09", "2026-10", "2026-11"])
    engine.dispose()
    add_users_at(db_url, [UserSpec(SUPERVISOR, (Role.SUPERVISOR,))])
    settings = Settings(db_url=db_url, evidence_dir=root / "evidence", auth_secret=TEST_AUTH_SECRET)
    try:
        with serve_on_loopback(create_app(settings)) as url:
            yield url
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _expected(url: str, **params: str) -> int:
    with httpx.Client(base_url=url, timeout=10) as http:
        response = http.get("/hotspots", params=params, headers=login(http, SUPERVISOR))
    assert response.status_code == 200, response.text
    count: int = response.json()["count"]
    return count


@pytest.mark.slow
def test_heat_layer_draws_the_hotspots_of_the_period(live: str) -> None:
    sync_playwright = browser_or_skip()
    period = {"since": "2026-09-01T00:00:00", "until": "2026-12-01T00:00:00"}
    violations, cases = _expected(live, **period), _expected(live, kind="cases", **period)
    assert violations > cases > 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(f"{live}/ui/login")
            page.fill("input[name=username]", SUPERVISOR)
            page.fill("input[name=password]", TEST_PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{live}/ui/queue")  # a supervisor reviews too: the queue first
            page.goto(f"{live}/ui/cases")
            assert page.locator("canvas.leaflet-heatmap-layer").count() == 0  # off until asked for
            page.fill("#heat-since", "2026-09-01")
            page.fill("#heat-until", "2026-12-01")
            page.check("#heat-toggle")
            page.wait_for_function("() => document.querySelector('#cases-map').dataset.heatPoints")
            assert page.locator("#cases-map").get_attribute("data-heat-points") == str(violations)
            assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
            coloured = page.evaluate("""() => { const c = document.querySelector('canvas.leaflet-heatmap-layer');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
            assert coloured > 100, coloured
            page.screenshot(path=str(SCREENSHOT), full_page=False)
            page.select_option("#heat-kind", "cases")
            page.wait_for_function("(n) => document.querySelector('#cases-map').dataset.heatPoints === n",
                                   arg=str(cases))
            page.uncheck("#heat-toggle")
            page.wait_for_function("() => document.querySelectorAll('canvas.leaflet-heatmap-layer').length === 0")
        finally:
            browser.close()
