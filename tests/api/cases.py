"""Filter cases shared by the query tests and the HTTP tests.

Each case is the query string the API receives and a predicate on the seeded rows that says
which rows it must return. ``must_match`` says whether the seed must hold at least one match,
so a predicate that matches nothing cannot make a test pass vacuously.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streetwatch.store.queries import BBox
from tests.api.seed import SeedObservation, SeedViolation

# Both are the seen_at of seeded violations, so the boundaries (since inclusive, until
# exclusive) are exercised; test_queries checks the seed still has rows exactly there.
T_SINCE = datetime(2026, 5, 1, 9, 10, tzinfo=UTC)
T_UNTIL = datetime(2026, 5, 1, 11, 0, tzinfo=UTC)
BOX = (116.305, 39.9025, 116.331, 39.9155)  # around seed rows 3..15
BOX_LON = (116.305, 39.0, 116.331, 40.0)  # only longitude decides
BOX_LAT = (116.0, 39.9025, 117.0, 39.9155)  # only latitude decides


def _inside(lat: float | None, lon: float | None, box: tuple[float, float, float, float]) -> bool:
    return lat is not None and lon is not None and box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


def _seen(t: datetime | None, since: datetime | None = None, until: datetime | None = None) -> bool:
    return t is not None and (since is None or t >= since) and (until is None or t < until)


@dataclass(frozen=True, slots=True)
class FilterCase:
    id: str
    params: dict[str, str]
    matches: Callable[[Any], bool]
    must_match: bool = True


def _param(box: tuple[float, float, float, float]) -> str:
    return ",".join(str(x) for x in box)


BOX_PARAM = _param(BOX)

VIOLATION_CASES: list[FilterCase] = [
    FilterCase("none", {}, lambda v: True),
    FilterCase("family", {"family": "stall"}, lambda v: v.family == "stall"),
    FilterCase("family-ads", {"family": "ads"}, lambda v: v.family == "ads"),
    FilterCase("status", {"status": "approved"}, lambda v: v.status == "approved"),
    FilterCase(
        "family+status",
        {"family": "parking", "status": "pending"},
        lambda v: v.family == "parking" and v.status == "pending",
    ),
    FilterCase("since", {"since": "2026-05-01T09:10:00Z"}, lambda v: _seen(v.seen_at, since=T_SINCE)),
    FilterCase("until", {"until": "2026-05-01T11:00:00Z"}, lambda v: _seen(v.seen_at, until=T_UNTIL)),
    FilterCase(
        "window",
        {"since": "2026-05-01T09:10:00Z", "until": "2026-05-01T11:00:00Z"},
        lambda v: _seen(v.seen_at, T_SINCE, T_UNTIL),
    ),
    FilterCase(
        "since-beijing-offset",
        {"since": "2026-05-01T17:10:00+08:00"},
        lambda v: _seen(v.seen_at, since=T_SINCE),
    ),
    FilterCase(
        "since-naive-is-utc", {"since": "2026-05-01T09:10:00"}, lambda v: _seen(v.seen_at, since=T_SINCE)
    ),
    FilterCase("bbox", {"bbox": BOX_PARAM}, lambda v: _inside(v.lat, v.lon, BOX)),
    FilterCase("bbox-lon", {"bbox": _param(BOX_LON)}, lambda v: _inside(v.lat, v.lon, BOX_LON)),
    FilterCase("bbox-lat", {"bbox": _param(BOX_LAT)}, lambda v: _inside(v.lat, v.lon, BOX_LAT)),
    FilterCase(
        "bbox+status",
        {"bbox": BOX_PARAM, "status": "pending"},
        lambda v: _inside(v.lat, v.lon, BOX) and v.status == "pending",
    ),
    FilterCase("bbox-empty", {"bbox": "0,0,1,1"}, lambda v: False, must_match=False),
]

OBSERVATION_CASES: list[FilterCase] = [
    FilterCase("none", {}, lambda o: True),
    FilterCase("family", {"family": "garbage"}, lambda o: o.family == "garbage"),
    FilterCase("class_name", {"class_name": "person"}, lambda o: o.class_name == "person"),
    FilterCase("class_name-unknown", {"class_name": "spaceship"}, lambda o: False, must_match=False),
    FilterCase("location_status", {"location_status": "unknown"}, lambda o: o.location_status == "unknown"),
    FilterCase(
        "location_status-camera", {"location_status": "camera"}, lambda o: o.location_status == "camera"
    ),
    FilterCase("video_id", {"video_id": "2"}, lambda o: o.video_id == 2),
    FilterCase("since", {"since": "2026-05-01T09:10:00Z"}, lambda o: _seen(o.seen_at, since=T_SINCE)),
    FilterCase("until", {"until": "2026-05-01T11:00:00Z"}, lambda o: _seen(o.seen_at, until=T_UNTIL)),
    FilterCase(
        "bbox+class",
        {"bbox": BOX_PARAM, "class_name": "car"},
        lambda o: _inside(o.lat, o.lon, BOX) and o.class_name == "car",
    ),
]


def expected_ids(
    rows: tuple[SeedViolation, ...] | tuple[SeedObservation, ...], case: FilterCase
) -> list[int]:
    """The ids a case must return, newest (highest id) first."""
    ids = sorted((row.id for row in rows if case.matches(row)), reverse=True)
    assert ids or not case.must_match, f"case {case.id} matches no seeded row: the seed no longer covers it"
    return ids


def query_kwargs(params: dict[str, str]) -> dict[str, Any]:
    """The keyword arguments of ``streetwatch.store.queries`` that a query string stands for."""
    kwargs: dict[str, Any] = {}
    for key, value in params.items():
        if key in ("since", "until"):
            kwargs[key] = datetime.fromisoformat(value)
        elif key == "bbox":
            kwargs[key] = BBox.parse(value)
        elif key == "video_id":
            kwargs[key] = int(value)
        else:
            kwargs[key] = value
    return kwargs
