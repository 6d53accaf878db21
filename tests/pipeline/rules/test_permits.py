"""The permit registry: CSV and GeoJSON loading, validation errors, nearest-licence queries."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from streetwatch.core.geo import haversine_m
from streetwatch.core.permits import PermitError, load_permits
from tests.pipeline.rules.builders import SAMPLE_PERMITS, TAXONOMY, collection, moved, write_json

HEADER = "licence_id,name,lat,lon,class,valid_from,valid_to\n"
GOOD_ROW = "L-1,Tea shop sign,31.2305,121.4738,shop_sign,2024-01-01,2026-12-31\n"


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "permits.csv"
    path.write_text(text, encoding="utf-8")
    return path


BAD_CSV: list[tuple[str, str, str]] = [
    ("empty file", "", r"empty file; expected a header line licence_id,name,lat,lon,class"),
    ("missing column", "licence_id,name,lat,class\nL-1,x,31.2,shop_sign\n",
     r"line 1: missing column\(s\) lon"),
    ("misspelt column", "licence_id,name,lat,lon,class,valid_too\n",
     r"line 1: unknown column\(s\) valid_too .*did you mean 'valid_to'\?"),
    ("swapped lat/lon", HEADER + "L-1,x,121.4738,31.2305,shop_sign,,\n",
     r":line 2 \(licence 'L-1'\): position lon=31.2305, lat=121.4738 is not WGS84 .*latitude and "
     r"longitude look swapped"),
    ("latitude text", HEADER + GOOD_ROW + "L-2,x,north,121.47,shop_sign,,\n",
     r":line 3 \(licence 'L-2'\): lat = 'north': Input should be a valid number"),
    ("missing latitude", HEADER + "L-1,x,,121.47,shop_sign,,\n",
     r":line 2 \(licence 'L-1'\): lat is required"),
    ("bad date", HEADER + "L-1,x,31.23,121.47,shop_sign,2024-13-01,\n",
     r":line 2 \(licence 'L-1'\): valid_from = '2024-13-01': Input should be a valid date"),
    ("dates reversed", HEADER + "L-1,x,31.23,121.47,shop_sign,2025-01-01,2024-01-01\n",
     r":line 2 \(licence 'L-1'\): valid_from 2025-01-01 is after valid_to 2024-01-01"),
    ("unknown class", HEADER + "L-1,x,31.23,121.47,shop_sgn,,\n",
     r":line 2 \(licence 'L-1'\): class = 'shop_sgn' is not an advertising class of the taxonomy "
     r"\(expected one of ad_board, banner, .*\); did you mean 'shop_sign'\?"),
    ("class of another family", HEADER + "L-1,x,31.23,121.47,car,,\n",
     r"class = 'car' is not an advertising"),
    ("too many cells", HEADER + "L-1,x,31.23,121.47,shop_sign,,,extra\n",
     r":line 2: expected 7 cells as in the header, found 8"),
    ("too few cells", HEADER + "L-1,x,31.23,121.47\n",
     r":line 2: expected 7 cells as in the header, found 4"),
    ("duplicate licence", HEADER + GOOD_ROW + GOOD_ROW,
     r"licence id 'L-1' is used twice: .*:line 2 .* and .*:line 3"),
]


@pytest.mark.parametrize(("text", "message"), [(t, m) for _, t, m in BAD_CSV], ids=[n for n, _, _ in BAD_CSV])
def test_bad_csv_is_rejected_with_the_line_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = _csv(tmp_path, text)
    with pytest.raises(PermitError, match=message) as error:
        load_permits(path, TAXONOMY)
    assert str(path) in str(error.value)


def _point(properties: dict[str, Any], coordinates: Any = (121.4738, 31.2305)) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties,
            "geometry": {"type": "Point", "coordinates": list(coordinates)}}


SIGN = {"licence_id": "L-1", "name": "Sign", "class": "signboard"}
BAD_GEOJSON: list[tuple[str, Any, str]] = [
    ("not a collection", {"type": "Feature"}, r"expected a GeoJSON FeatureCollection"),
    ("polygon instead of point",
     collection({**_point(SIGN), "geometry": {"type": "Polygon", "coordinates": []}}),
     r"features\[0\]: geometry must be a Point"),
    ("swapped point", collection(_point(SIGN, (31.2305, 121.4738))),
     r"features\[0\] \(licence 'L-1'\): position lon=31.2305, lat=121.4738 is not WGS84"),
    ("position in properties", collection(_point({**SIGN, "lat": 31.2})), r"not in properties lat/lon"),
    ("unknown property", collection(_point({**SIGN, "valid_until": "2025-01-01"})),
     r"\(licence 'L-1'\): valid_until is not a registry field"),
    ("missing name", collection(_point({"licence_id": "L-1", "class": "banner"})), r"name is required"),
]


@pytest.mark.parametrize(("document", "message"), [(d, m) for _, d, m in BAD_GEOJSON],
                         ids=[n for n, _, _ in BAD_GEOJSON])
def test_bad_geojson_is_rejected(tmp_path: Path, document: Any, message: str) -> None:
    with pytest.raises(PermitError, match=message):
        load_permits(write_json(tmp_path / "permits.geojson", document), TAXONOMY)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("permits.xlsx", "", r"unknown registry format '\.xlsx'"),
    ("permits.geojson", '{"type": "FeatureCollection", "features": [}', r"not valid JSON: .* column 44"),
    ("absent.csv", None, r"permit registry not found"),
])
def test_unreadable_files(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(PermitError, match=message):
        load_permits(path)


def test_sample_registry_loads_with_canonical_classes_and_dates() -> None:
    registry = load_permits(SAMPLE_PERMITS, TAXONOMY)
    by_id = {p.licence_id: p for p in registry}
    assert {p.class_name for p in registry} == {"shop_sign", "projecting_sign", "banner", "ad_board"}
    projecting = by_id["HP-ZP-2024-0002"]
    assert projecting.valid_from == date(2024, 3, 1) and projecting.valid_to is None
    assert by_id["HP-ZP-2024-0001"].address == "人民路 12 号"


def test_geojson_registry_with_aliases_bom_and_numeric_ids(tmp_path: Path) -> None:
    path = tmp_path / "permits.geojson"
    path.write_text("\ufeff" + '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
                    '{"licence_id": 42, "name": "Sign", "class": "Signboard", "valid_to": "2025-12-31"}, '
                    '"geometry": {"type": "Point", "coordinates": [121.4738, 31.2305, 12.0]}}]}',
                    encoding="utf-8")
    (permit,) = load_permits(path, TAXONOMY)
    assert (permit.licence_id, permit.class_name) == ("42", "shop_sign")
    assert (permit.lat, permit.lon) == (31.2305, 121.4738)
    assert permit.valid_on(date(2025, 12, 31)) and not permit.valid_on(date(2026, 1, 1))


SIGN_AT = (31.23050, 121.47380)   # HP-ZP-2024-0001, shop_sign, 2024-01-01..2026-12-31


@pytest.mark.parametrize(("offset_m", "radius_m", "class_name", "on", "expected"), [
    (10.0, 15.0, None, None, "HP-ZP-2024-0001"),
    (10.0, 15.0, "shop_sign", date(2025, 6, 6), "HP-ZP-2024-0001"),
    (10.0, 9.0, "shop_sign", None, None),                       # just beyond the radius
    (10.0, 15.0, "banner", None, None),                          # wrong class
    (10.0, 15.0, {"projecting_sign", "shop_sign"}, None, "HP-ZP-2024-0001"),
    (10.0, 15.0, "shop_sign", date(2027, 1, 1), None),          # lapsed
    (10.0, 15.0, "shop_sign", date(2023, 12, 31), None),        # not yet valid
    (-10.0, 60.0, None, None, "HP-ZP-2024-0001"),                # nearest of several within the radius
])
def test_nearest(offset_m: float, radius_m: float, class_name: Any, on: date | None,
                 expected: str | None) -> None:
    registry = load_permits(SAMPLE_PERMITS, TAXONOMY)
    lat, lon = moved(SIGN_AT, north_m=offset_m)
    match = registry.nearest(lat, lon, radius_m, class_name, on=on)
    assert (match.permit.licence_id if match else None) == expected
    if match is not None:
        geodesic = haversine_m(lat, lon, match.permit.lat, match.permit.lon)
        assert match.distance_m == pytest.approx(geodesic, rel=0.01)


def test_within_sorts_by_distance() -> None:
    registry = load_permits(SAMPLE_PERMITS, TAXONOMY)
    matches = registry.within(31.23052, 121.47390, 50.0)   # about 10 m and 29 m from the two signs
    assert [m.permit.licence_id for m in matches] == ["HP-ZP-2024-0001", "HP-ZP-2024-0002"]
    assert [round(m.distance_m) for m in matches] == [10, 29]


def test_the_documented_example_is_a_valid_registry(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "rules.md").read_text(encoding="utf-8")
    example = docs.split("```csv\n", 1)[1].split("```", 1)[0]
    registry = load_permits(_csv(tmp_path, example), TAXONOMY)
    assert [p.class_name for p in registry] == ["shop_sign", "ad_board"]
