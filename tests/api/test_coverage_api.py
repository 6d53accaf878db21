"""Patrol coverage over HTTP, from three generated patrol videos processed for real.

The sample network is a 3 x 3 grid of junctions (12 segments). The patrols (``SAMPLE_PATROLS``):
Renmin Rd end to end ten days before NOW, Zhongshan Rd half a day before, Renmin Rd's first block
and Jianshe Rd's first block two hours before. So at NOW: renmin-1 is covered (two passes),
renmin-2 stale (a primary road: one day), zhongshan-1/-2 and jianshe-1 covered, the other seven
never patrolled. Processing the three clips takes about 20 s on two busy cores: the module is slow.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.datasets.road_network import SAMPLE_PATROLS, SAMPLE_SPEED_MPS, route_length_m, segment_ids
from tests.api.auth_support import STANDARD_USERS, TestUser, UserSpec, add_users_at
from tests.api.coverage_support import PatrolledCity, patrolled_city

pytestmark = pytest.mark.slow

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
PERIOD = {"since": (NOW - timedelta(days=30)).isoformat(), "until": NOW.isoformat()}
COVERED = {"renmin-1", "zhongshan-1", "zhongshan-2", "jianshe-1"}
STALE = {"renmin-2"}
NEVER = set(segment_ids()) - COVERED - STALE
SQUAD_1 = "城管执法一中队"   # the unit of Renmin Rd, Jiefang Rd and Jianshe Rd in the sample network
TOLERANCE_S = 2.0            # the track is sampled every second


def started(name: str) -> datetime:
    return NOW - next(p.before_now for p in SAMPLE_PATROLS if p.name == name)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> PatrolledCity:
    return patrolled_city(tmp_path_factory.mktemp("coverage"), NOW)


@pytest.fixture(scope="module")
def users(city: PatrolledCity) -> dict[str, TestUser]:
    return add_users_at(city.settings.db_url, [*STANDARD_USERS, UserSpec("squad1", (Role.DISPATCHER,), SQUAD_1)])


@pytest.fixture
def client(city: PatrolledCity, users: dict[str, TestUser]) -> Iterator[TestClient]:
    with TestClient(create_app(city.settings)) as test_client:
        test_client.headers.update(users["supervisor"].headers())
        yield test_client


def test_driven_segments_are_covered_with_their_times_and_the_others_are_gaps(client: TestClient) -> None:
    response = client.get("/coverage/roads", params=PERIOD)
    assert response.status_code == 200, response.text
    body = response.json()
    by_id = {row["id"]: row for row in body["items"]}
    assert set(by_id) == set(segment_ids())
    assert {k for k, r in by_id.items() if r["status"] == "covered"} == COVERED
    assert {k for k, r in by_id.items() if r["status"] == "stale"} == STALE
    assert {k for k, r in by_id.items() if r["status"] == "never"} == NEVER
    assert body["counts"] == {"covered": 4, "stale": 1, "never": 7}
    assert all(by_id[k]["passes"] == 0 and by_id[k]["last_patrolled"] is None for k in NEVER)
    assert by_id["renmin-1"]["passes"] == 2 and by_id["renmin-2"]["passes"] == 1

    # The times: each segment is left when the car reaches its far junction (10 m/s, 150 m and 120 m blocks).
    def left(name: str, metres: float) -> datetime:
        return started(name) + timedelta(seconds=metres / SAMPLE_SPEED_MPS)

    expected_last = {
        "renmin-1": left("patrol-renmin-jianshe", 150), "jianshe-1": left("patrol-renmin-jianshe", 270),
        "renmin-2": left("patrol-renmin", 300), "zhongshan-1": left("patrol-zhongshan", 120),
        "zhongshan-2": left("patrol-zhongshan", 240),
    }
    for segment_id, expected in expected_last.items():
        got = datetime.fromisoformat(by_id[segment_id]["last_patrolled"])
        assert abs((got - expected).total_seconds()) <= TOLERANCE_S, (segment_id, got, expected)
    renmin = by_id["renmin-1"]
    assert (renmin["name"], renmin["road_class"], renmin["road_chief"], renmin["unit"]) == (
        "人民路", "primary", "张伟", SQUAD_1)
    assert datetime.fromisoformat(renmin["first_in_period"]) == started("patrol-renmin")
    assert (by_id["renmin-2"]["stale_after_days"], by_id["jianshe-1"]["stale_after_days"]) == (1.0, 3.0)


def test_one_segments_passes_name_their_videos(client: TestClient, city: PatrolledCity) -> None:
    response = client.get("/coverage/roads/renmin-1", params=PERIOD)
    assert response.status_code == 200, response.text
    passes = response.json()["passes"]
    assert [p["video_id"] for p in passes] == [city.video_ids["patrol-renmin-jianshe"], city.video_ids["patrol-renmin"]]
    for p, name in zip(passes, ("patrol-renmin-jianshe", "patrol-renmin"), strict=True):
        entered, left = datetime.fromisoformat(p["entered_at"]), datetime.fromisoformat(p["left_at"])
        assert abs((entered - started(name)).total_seconds()) <= TOLERANCE_S
        assert 12.0 <= (left - entered).total_seconds() <= 16.0 and p["covered_m"] > 120.0


@pytest.mark.parametrize(("params", "expected"), [
    # Five days back: renmin-2's only pass is before the period, it is still stale (last patrolled 10 days ago).
    pytest.param({"since": NOW - timedelta(days=5), "until": NOW},
                 {"renmin-1": ("covered", 1), "renmin-2": ("stale", 0), "zhongshan-1": ("covered", 1)}, id="5-days"),
    # Judged eleven days back, nothing had been driven yet.
    pytest.param({"since": NOW - timedelta(days=40), "until": NOW - timedelta(days=11)},
                 {"renmin-1": ("never", 0), "renmin-2": ("never", 0)}, id="before-any-patrol"),
    # Judged the day after the first patrol: Renmin Rd was covered then.
    pytest.param({"since": NOW - timedelta(days=11), "until": NOW - timedelta(days=9)},
                 {"renmin-1": ("covered", 1), "renmin-2": ("covered", 1), "zhongshan-1": ("never", 0)},
                 id="after-the-first-patrol"),
])
def test_the_period_decides_passes_and_status(client: TestClient, params: dict[str, datetime],
                                             expected: dict[str, tuple[str, int]]) -> None:
    response = client.get("/coverage/roads", params={k: v.isoformat() for k, v in params.items()})
    assert response.status_code == 200, response.text
    by_id = {row["id"]: (row["status"], row["passes"]) for row in response.json()["items"]}
    assert {k: by_id[k] for k in expected} == expected


def test_city_grid_cells_are_covered_stale_or_never(client: TestClient, users: dict[str, TestUser]) -> None:
    """The sample grid: G-01 and G-02 were driven hours ago, G-03 only ten days ago (grid cells go stale
    after 3 days), G-04 lies north of every road."""
    response = client.get("/coverage/grids", params=PERIOD)
    assert response.status_code == 200, response.text
    by_id = {g["id"]: g for g in response.json()["items"]}
    assert {k: (g["status"], g["passes"]) for k, g in by_id.items()} == {
        "G-01": ("covered", 3), "G-02": ("covered", 2), "G-03": ("stale", 1), "G-04": ("never", 0)}
    last = datetime.fromisoformat(by_id["G-02"]["last_patrolled"])
    expected = started("patrol-renmin-jianshe") + timedelta(seconds=270 / SAMPLE_SPEED_MPS)  # the route's end
    assert abs((last - expected).total_seconds()) <= TOLERANCE_S
    assert (by_id["G-02"]["name"], by_id["G-02"]["unit"]) == ("建设路网格", SQUAD_1)
    mine = client.get("/coverage/grids", params=PERIOD, headers=users["squad1"].headers()).json()["items"]
    assert {g["id"] for g in mine} == {"G-02", "G-04"}  # a dispatcher: their unit's grid cells


def test_cells_geojson_and_csv_agree(client: TestClient) -> None:
    cells = client.get("/coverage/cells", params=PERIOD).json()
    assert cells["h3_resolution"] == 9
    covered_cells = {c["id"] for c in cells["items"] if c["status"] == "covered"}
    assert covered_cells and all(c["roads"] for c in cells["items"])  # every cell is one the roads cross
    assert sum(cells["counts"].values()) == len(cells["items"])

    geojson = client.get("/coverage.geojson", params=PERIOD)
    assert geojson.status_code == 200 and geojson.headers["content-type"].startswith("application/geo+json")
    features = geojson.json()["features"]
    roads = {f["properties"]["id"]: f for f in features if f["properties"]["kind"] == "road"}
    assert {k for k, f in roads.items() if f["properties"]["status"] == "covered"} == COVERED
    assert all(f["geometry"]["type"] == "LineString" for f in roads.values())
    assert {f["properties"]["id"] for f in features if f["properties"]["kind"] == "cell"} == {
        c["id"] for c in cells["items"]}
    assert {f["properties"]["id"] for f in features if f["properties"]["kind"] == "grid"} == {
        "G-01", "G-02", "G-03", "G-04"}
    only_grids = client.get("/coverage.geojson", params={**PERIOD, "kind": "grid"}).json()["features"]
    assert {f["properties"]["kind"] for f in only_grids} == {"grid"} and len(only_grids) == 4

    exported = client.get("/coverage.csv", params={**PERIOD, "status": "never"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["id"] for r in rows if r["kind"] == "road"} == NEVER
    assert {r["id"] for r in rows if r["kind"] == "grid"} == {"G-04"}
    assert all(r["status"] == "never" and r["passes"] == "0" for r in rows)
    assert {r["road_chief"] for r in rows if r["id"].startswith("heping")} == {"王芳"}


@pytest.mark.parametrize(("username", "path", "params", "status"), [
    ("reviewer", "/coverage/roads", {}, 403),
    ("field_inspector", "/coverage/cells", {}, 403),
    ("admin", "/coverage/roads", {}, 200),
    ("squad1", "/coverage/roads", {"unit": "城管执法二中队"}, 403),
    ("squad1", "/coverage/roads/heping-1", {}, 403),     # another unit's road
    ("squad1", "/coverage/roads/renmin-1", {}, 200),
    ("supervisor", "/coverage/roads/no-such-road", {}, 404),
    ("supervisor", "/coverage/roads", {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, 422),
    ("supervisor", "/coverage/roads", {"status": "sometimes"}, 422),
])
def test_who_may_see_what(client: TestClient, users: dict[str, TestUser], username: str, path: str,
                          params: dict[str, str], status: int) -> None:
    response = client.get(path, params=params, headers=users[username].headers())
    assert response.status_code == status, response.text


def test_a_dispatcher_sees_the_roads_of_their_unit(client: TestClient, users: dict[str, TestUser]) -> None:
    response = client.get("/coverage/roads", params=PERIOD, headers=users["squad1"].headers())
    assert response.status_code == 200, response.text
    assert {row["id"].rsplit("-", 1)[0] for row in response.json()["items"]} == {"renmin", "jiefang", "jianshe"}


def test_without_a_road_network_coverage_is_per_cell(city: PatrolledCity, users: dict[str, TestUser]) -> None:
    settings = city.settings.model_copy(update={"roads_path": None})
    with TestClient(create_app(settings)) as plain:
        plain.headers.update(users["supervisor"].headers())
        assert plain.get("/coverage/roads", params=PERIOD).json()["items"] == []
        cells = plain.get("/coverage/cells", params=PERIOD).json()["items"]
    # Only the cells driven through are known; each has its passes.
    assert cells and all(c["status"] != "never" and c["passes"] >= 1 and c["roads"] == [] for c in cells)


def test_route_lengths_match_the_clips(city: PatrolledCity) -> None:
    """The clips last as long as their drives (so a clip ends where its route ends)."""
    import av

    for clip, patrol in zip(city.clips, SAMPLE_PATROLS, strict=True):
        with av.open(str(clip)) as container:
            seconds = float(container.duration or 0) / 1e6
        assert abs(seconds - route_length_m(patrol.route) / SAMPLE_SPEED_MPS) < 1.5, (clip, seconds)


def test_the_cli_prints_the_gaps(city: PatrolledCity, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from streetwatch.cli.main import app

    out = tmp_path / "coverage.geojson"
    result = CliRunner().invoke(app, ["coverage", "--db", city.settings.db_url, "--roads", str(city.roads_path),
                                      "--until", NOW.isoformat(), "--status", "stale", "--geojson", str(out)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "renmin-2" in result.output and "renmin-1" not in result.output
    assert "roads: 0 covered, 1 stale, 0 never patrolled" in result.output
    assert '"renmin-2"' in out.read_text(encoding="utf-8")
