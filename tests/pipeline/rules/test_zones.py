"""Zones: loading and validating GeoJSON, opening hours, point queries in metres."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from streetwatch.core.zones import (
    GridCell,
    PermittedVendingZone,
    TimeSpan,
    ZoneError,
    ZoneIndex,
    load_zones,
    parse_hours,
    parse_weekdays,
    parse_zones,
    read_zones_file,
)
from tests.pipeline.rules.builders import (
    BUS_STOP_CENTRE,
    MARKET_CENTRE,
    NO_VENDING_POINT,
    OPEN_STREET,
    SAMPLE_ZONES,
    SHANGHAI,
    collection,
    feature,
    moved,
    rectangle,
    write_json,
)

NP = {"kind": "no_parking", "id": "z1", "name": "Bus stop"}
PV = {"kind": "permitted_vending", "id": "m1", "name": "Market", "hours": "07:00-10:00"}
GRID = {"kind": "grid", "id": "g1", "name": "Cell 1", "grid_id": "0101", "unit": "城管中队"}
BOWTIE = [[[121.4730, 31.2300], [121.4735, 31.2305], [121.4735, 31.2300], [121.4730, 31.2305],
           [121.4730, 31.2300]]]
SWAPPED = [[[31.2300, 121.4730], [31.2300, 121.4735], [31.2305, 121.4735], [31.2305, 121.4730],
            [31.2300, 121.4730]]]
HOLE_OUTSIDE = [rectangle(31.2300, 121.4730, 31.2302, 121.4733)[0],
                rectangle(31.2310, 121.4740, 31.2311, 121.4741)[0]]


# --- bad inputs -> clear errors naming the feature ------------------------------------------------

BAD_DOCUMENTS: list[tuple[str, Any, str]] = [
    ("top level is a Feature", feature(NP), r"expected a GeoJSON FeatureCollection, found type 'Feature'"),
    ("top level is a list", [], r"expected a GeoJSON FeatureCollection, found list"),
    ("features not a list", {"type": "FeatureCollection", "features": {}}, r"'features' must be a list"),
    ("feature of the wrong type", collection({"type": "Polygon"}),
     r"features\[0\]: expected a GeoJSON Feature"),
    ("no properties", collection({"type": "Feature", "geometry": None}), r"features\[0\]: 'properties' must"),
    ("unknown kind", collection(feature({**NP, "kind": "no_parkin"})),
     r"features\[0\] \(id 'z1'\): properties.kind 'no_parkin' is unknown; expected one of no_parking, "
     r"no_vending, permitted_vending, grid \(did you mean 'no_parking'\?\)"),
    ("missing kind", collection(feature({"id": "z1", "name": "x"})), r"\(id 'z1'\): properties.kind missing"),
    ("missing name", collection(feature({"kind": "no_parking", "id": "z1"})),
     r"\(id 'z1'\): properties.name is required for kind 'no_parking'"),
    ("empty name", collection(feature({**NP, "name": "  "})), r"\(id 'z1'\): properties.name = '  ': String"),
    ("unknown property", collection(feature({**PV, "hour": "07:00-10:00"})),
     r"\(id 'm1'\): properties.hour is not a property of this kind .*\(did you mean 'hours'\?\)"),
    ("missing hours", collection(feature({k: v for k, v in PV.items() if k != "hours"})),
     r"\(id 'm1'\): properties.hours is required for kind 'permitted_vending'"),
    ("hours without colons", collection(feature({**PV, "hours": "7-10"})),
     r"\(id 'm1'\): properties.hours = '7-10': bad span '7-10': expected HH:MM-HH:MM"),
    ("hour 25", collection(feature({**PV, "hours": "07:00-10:00,25:00-26:00"})),
     r"\(id 'm1'\): properties.hours = .*bad span '25:00-26:00'.*hours run 00-23"),
    ("empty span", collection(feature({**PV, "hours": "10:00-10:00"})), r"empty span '10:00-10:00'"),
    ("semicolon separator", collection(feature({**PV, "hours": "07:00-10:00;17:00-21:00"})),
     r"bad span '07:00-10:00;17:00-21:00'"),
    ("hours a number", collection(feature({**PV, "hours": 7})), r"expected opening hours like"),
    ("unknown weekday", collection(feature({**PV, "weekdays": "mon-fr"})),
     r"\(id 'm1'\): properties.weekdays = 'mon-fr': unknown weekday 'fr'"),
    ("unknown timezone", collection(feature({**NP, "timezone": "Asia/Shangai"})),
     r"\(id 'z1'\): properties.timezone = 'Asia/Shangai': unknown time zone 'Asia/Shangai'"),
    ("grid without unit", collection(feature({k: v for k, v in GRID.items() if k != "unit"})),
     r"\(id 'g1'\): properties.unit is required for kind 'grid'"),
    ("self-intersecting polygon", collection(feature(NP, BOWTIE)),
     r"\(id 'z1'\): invalid Polygon: Self-intersection\[121.47325 31.23025\]"),
    ("hole outside its shell", collection(feature(NP, HOLE_OUTSIDE)), r"\(id 'z1'\): invalid Polygon: Hole"),
    ("ring of three points", collection(feature(NP, [[[121.47, 31.23], [121.48, 31.23], [121.47, 31.23]]])),
     r"\(id 'z1'\): invalid Polygon: Too few points in geometry component"),
    ("ring of two points", collection(feature(NP, [[[121.47, 31.23], [121.48, 31.23]]])),
     r"\(id 'z1'\): malformed Polygon coordinates: A linearring requires at least 4 coordinates"),
    ("text coordinates", collection(feature(NP, [[["a", "b"], [1, 1], [0, 1], ["a", "b"]]])),
     r"\(id 'z1'\): malformed Polygon coordinates"),
    ("point geometry", collection(feature(NP, geometry={"type": "Point", "coordinates": [121.47, 31.23]})),
     r"\(id 'z1'\): geometry must be a Polygon or MultiPolygon, found 'Point'"),
    ("no geometry", collection(feature(NP, geometry=None)),
     r"geometry must be a Polygon or MultiPolygon, found None"),
    ("swapped lat/lon", collection(feature(NP, SWAPPED)),
     r"\(id 'z1'\): position lon=31.23, lat=121.473 is not WGS84 .* latitude and longitude look swapped"),
    ("projected metres", collection(feature(NP, rectangle(3_500_000, 13_500_000, 3_500_100, 13_500_100))),
     r"\(id 'z1'\): position lon=13500000.0, lat=3500000.0 is not WGS84 \(longitude must"),
    ("declared web mercator", {**collection(feature(NP)), "crs": {"type": "name", "properties": {
        "name": "urn:ogc:def:crs:EPSG::3857"}}}, r"declares crs 'urn:ogc:def:crs:EPSG::3857'"),
    ("duplicate id", collection(feature(NP), feature({**NP, "name": "other"})),
     r"zone id 'z1' is used twice: zones#features\[0\] and zones#features\[1\]"),
]


@pytest.mark.parametrize(("document", "message"), [(d, m) for _, d, m in BAD_DOCUMENTS],
                         ids=[name for name, _, _ in BAD_DOCUMENTS])
def test_bad_documents_are_rejected_with_the_feature_and_the_problem(document: Any, message: str) -> None:
    with pytest.raises(ZoneError, match=message):
        parse_zones(document, "zones")


@pytest.mark.parametrize(("text", "message"), [
    ('{"type": "FeatureCollection", "features": [', r"not valid JSON: Expecting value at line 1 column 44"),
    ('{"type": "FeatureCollection",\n "features": [}', r"not valid JSON: .* at line 2 column 15"),
    ("", r"not valid JSON"),
], ids=["truncated", "stray brace", "empty file"])
def test_broken_json_names_the_file_and_the_position(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "zones.geojson"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ZoneError, match=message) as error:
        read_zones_file(path)
    assert str(path) in str(error.value)


def test_missing_file_and_duplicates_across_files(tmp_path: Path) -> None:
    with pytest.raises(ZoneError, match=r"zones file not found: .*nowhere\.geojson"):
        load_zones([tmp_path / "nowhere.geojson"])
    first = write_json(tmp_path / "a.geojson", collection(feature(NP)))
    second = write_json(tmp_path / "b.geojson", collection(feature({**NP, "name": "again"})))
    with pytest.raises(ZoneError, match=r"zone id 'z1' is used twice: .*a.geojson#features\[0\] and "
                                        r".*b.geojson#features\[0\]"):
        load_zones([first, second])


# --- good inputs ---------------------------------------------------------------------------------


def test_sample_file_loads_every_kind() -> None:
    index = load_zones([SAMPLE_ZONES])
    assert sorted(z.kind for z in index) == ["grid", "grid", "no_parking", "no_vending", "permitted_vending"]
    market = next(z for z in index if z.kind == "permitted_vending")
    assert isinstance(market.properties, PermittedVendingZone)
    assert market.properties.hours == (TimeSpan(420, 600), TimeSpan(1020, 1260))
    assert market.timezone == SHANGHAI


def test_files_merge_and_feature_ids_numbers_and_timezones_are_taken(tmp_path: Path) -> None:
    first = write_json(tmp_path / "a.geojson", collection(feature({k: v for k, v in NP.items() if k != "id"},
                                                                  id=17)))
    second = write_json(tmp_path / "b.geojson",
                        collection(feature({**GRID, "grid_id": 101, "timezone": "UTC"})))
    index = load_zones([first, second], default_timezone="Asia/Urumqi")
    assert [z.id for z in index] == ["17", "g1"]
    assert [z.timezone.key for z in index] == ["Asia/Urumqi", "UTC"]
    cell = index.zones[1].properties
    assert isinstance(cell, GridCell) and cell.grid_id == "101"


@pytest.mark.parametrize(("point", "kind", "expected"), [
    (BUS_STOP_CENTRE, None, ["np-renmin-bus-stop", "grid-hp-0101"]),
    (BUS_STOP_CENTRE, "no_parking", ["np-renmin-bus-stop"]),
    (BUS_STOP_CENTRE, "no_vending", []),
    (NO_VENDING_POINT, None, ["nv-renmin-pavement", "grid-hp-0102"]),
    (MARKET_CENTRE, "permitted_vending", ["pv-renmin-night-market"]),
    (OPEN_STREET, None, ["grid-hp-0101"]),
    ((31.2400, 121.4900), None, []),
    (moved(BUS_STOP_CENTRE, north_m=8.5), "no_parking", ["np-renmin-bus-stop"]),   # 0.4 m from the edge
    (moved(BUS_STOP_CENTRE, north_m=9.5), "no_parking", []),                       # 0.6 m beyond it
])
def test_zones_at(point: tuple[float, float], kind: str | None, expected: list[str]) -> None:
    index = load_zones([SAMPLE_ZONES])
    assert [z.id for z in index.zones_at(*point, kind=kind)] == expected


def test_zones_at_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown zone kind 'parking'"):
        load_zones([SAMPLE_ZONES]).zones_at(*BUS_STOP_CENTRE, kind="parking")


CENTRE = (31.2350, 121.4800)


def _geodesic_box(half_north_m: float, half_east_m: float) -> list[list[list[float]]]:
    south, west = moved(CENTRE, north_m=-half_north_m, east_m=-half_east_m)
    north, east = moved(CENTRE, north_m=half_north_m, east_m=half_east_m)
    return rectangle(south, west, north, east)


@pytest.mark.parametrize(("north_m", "east_m", "expected_m"), [
    (0.0, 0.0, 10.0),       # nearer the north and south edges, 10 m away
    (0.0, 25.0, 5.0),       # 5 m from the east edge
    (6.0, 0.0, 4.0),
    (0.0, 40.0, -10.0),     # outside, 10 m beyond the east edge
    (-14.0, 0.0, -4.0),
    (0.0, 30.0, 0.0),       # on the edge
])
def test_distance_inside_m_is_metres_from_the_edge(north_m: float, east_m: float, expected_m: float) -> None:
    index = ZoneIndex(parse_zones(collection(feature(NP, _geodesic_box(10.0, 30.0)))))
    lat, lon = moved(CENTRE, north_m=north_m, east_m=east_m)
    assert index.distance_inside_m(index.zones[0], lat, lon) == pytest.approx(expected_m, abs=0.05)


def test_multipolygon_parts_and_grid_lookup() -> None:
    parts = {"type": "MultiPolygon", "coordinates": [rectangle(31.2300, 121.4730, 31.2302, 121.4733),
                                                     rectangle(31.2310, 121.4740, 31.2312, 121.4743)]}
    index = ZoneIndex(parse_zones(collection(feature(GRID, geometry=parts))))
    cell = index.grid_at(31.2311, 121.47415)
    assert cell is not None and cell.id == "g1"
    assert index.grid_at(31.2306, 121.4736) is None
    assert index.zones_at(31.2301, 121.47315) == [cell]


# --- opening hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("07:00-10:00,17:00-21:00", ((420, 600), (1020, 1260))),
    (" 07:00 - 10:00 , 17:30-21:15 ", ((420, 600), (1050, 1275))),
    ("18:00-02:00", ((1080, 120),)),
    ("00:00-24:00", ((0, 1440),)),
])
def test_parse_hours(text: str, expected: tuple[tuple[int, int], ...]) -> None:
    assert tuple((s.start_min, s.end_min) for s in parse_hours(text)) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("24:00-02:00", "hours run 00-23"), ("07:60-08:00", "minutes 00-59"), ("07:00-24:30", "24:00 only as"),
    ("", "expected opening hours"), ("07:00", "expected HH:MM-HH:MM"), ("7:00-9:00", "expected HH:MM-HH:MM"),
])
def test_parse_hours_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hours(text)


@pytest.mark.parametrize(("value", "expected"), [
    (None, {0, 1, 2, 3, 4, 5, 6}), ("mon-fri", {0, 1, 2, 3, 4}), ("fri-mon", {4, 5, 6, 0}),
    ("Mon, wed ,SUN", {0, 2, 6}), (["sat", "Sunday"], {5, 6}), ("tue-tue", {1}),
])
def test_parse_weekdays(value: Any, expected: set[int]) -> None:
    assert parse_weekdays(value) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("mon-fr", "unknown weekday 'fr'"), ("mon-wed-fri", "bad weekday range"),
    (["mon", 3], "expected weekdays"), ("", "unknown weekday ''"), (5, "expected weekdays"),
])
def test_parse_weekdays_rejects(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_weekdays(value)


# 2025-06-06 is a Friday.
@pytest.mark.parametrize(("hours", "weekdays", "local", "expected"), [
    ("07:00-10:00,17:00-21:00", None, datetime(2025, 6, 6, 9, 42), True),
    ("07:00-10:00,17:00-21:00", None, datetime(2025, 6, 6, 10, 0), False),       # the end is exclusive
    ("07:00-10:00,17:00-21:00", None, datetime(2025, 6, 6, 6, 59, 59), False),
    ("07:00-10:00,17:00-21:00", None, datetime(2025, 6, 6, 17, 0), True),
    ("07:00-10:00,17:00-21:00", None, datetime(2025, 6, 6, 12, 0), False),
    ("18:00-02:00", "fri", datetime(2025, 6, 6, 23, 30), True),
    ("18:00-02:00", "fri", datetime(2025, 6, 7, 1, 30), True),      # Saturday small hours: Friday's market
    ("18:00-02:00", "fri", datetime(2025, 6, 7, 2, 0), False),
    ("18:00-02:00", "fri", datetime(2025, 6, 6, 1, 30), False),     # Friday small hours: Thursday's, closed
    ("18:00-02:00", "fri", datetime(2025, 6, 7, 19, 0), False),     # Saturday evening
    ("00:00-24:00", "sat-sun", datetime(2025, 6, 8, 23, 59), True),
    ("00:00-24:00", "sat-sun", datetime(2025, 6, 9, 0, 0), False),  # Monday
])
def test_permitted_vending_is_open(hours: str, weekdays: str | None, local: datetime, expected: bool) -> None:
    zone = PermittedVendingZone(kind="permitted_vending", id="m", name="Market", hours=hours,
                                weekdays=weekdays)
    assert zone.is_open(local) is expected


def test_the_documented_example_is_a_valid_zones_file() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "rules.md").read_text(encoding="utf-8")
    example = docs.split("```json\n", 1)[1].split("```", 1)[0]
    zones = parse_zones(json.loads(example), "docs/rules.md")
    assert [z.kind for z in zones] == ["no_parking", "permitted_vending", "grid"]
