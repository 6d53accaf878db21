"""The coverage page with real data, for its test and for the README's screenshot.

:func:`coverage_site` processes the three sample patrols (``tests.api.coverage_support``) with "now" as
the time of the run, adds a supervisor and serves the app on 127.0.0.1; :func:`open_coverage_page`
signs in through the form in headless Chromium and opens ``/ui/coverage`` once its map is drawn.
``scripts/coverage_screenshot.py`` uses both to write ``docs/images/coverage-page.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.datasets.road_network import junction, segment_ends
from tests.api.auth_support import TEST_PASSWORD, UserSpec, add_users_at
from tests.api.coverage_support import PatrolledCity, patrolled_city
from tests.live_server import serve_on_loopback

SUPERVISOR = "coverage_sup"
VIEWPORT = {"width": 1280, "height": 900}


@dataclass(frozen=True, slots=True)
class CoverageSite:
    url: str
    city: PatrolledCity


@contextmanager
def coverage_site(root: Path) -> Iterator[CoverageSite]:
    """The sample patrols processed into a database under ``root`` and served; yields its URL."""
    city = patrolled_city(root, datetime.now(UTC))
    add_users_at(city.settings.db_url, [UserSpec(SUPERVISOR, (Role.SUPERVISOR,))])
    with serve_on_loopback(create_app(city.settings)) as url:
        yield CoverageSite(url, city)


def open_coverage_page(browser: Any, url: str) -> Any:
    """Sign in as the supervisor through the form, open the coverage page, wait for its map."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(f"{url}/ui/login")
    # Filled by name, as the other page tests do: typing into whatever has focus raced the field's autofocus
    # on a loaded machine (the sign-in went nowhere and the page stayed on /ui/login).
    page.fill("input[name=username]", SUPERVISOR)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/ui/queue")
    page.goto(f"{url}/ui/coverage")
    page.wait_for_selector("#coverage-map[data-ready='true']")
    page.wait_for_timeout(300)  # Leaflet's first paint of the vectors
    return page


def segment_middle_px(page: Any, segment_id: str) -> tuple[float, float]:
    """Where the middle of a segment is drawn, in pixels of the map element."""
    (lat1, lon1), (lat2, lon2) = (junction(*end) for end in segment_ends(segment_id))
    point = page.evaluate("([lat, lon]) => window.streetwatchCoverageMap.latLngToContainerPoint([lat, lon])",
                          [(lat1 + lat2) / 2, (lon1 + lon2) / 2])
    return float(point["x"]), float(point["y"])
