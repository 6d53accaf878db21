"""Routing a filed case: its own unit, else its grid cell's, else its family's default, else the fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from streetwatch.casework.routing import RoutingError, load_units, parse_units, route_case
from streetwatch.core.zones import load_zones

ZONES = Path(__file__).resolve().parents[2] / "models" / "zones" / "sample-zones.geojson"
UNITS = load_units()
IN_WEST_CELL = (31.2300, 121.4730)   # grid 310101-0101, 外滩街道城管执法中队
OUTSIDE = (31.3000, 121.6000)


@pytest.mark.parametrize(
    ("family", "where", "unit", "grid", "with_zones", "expected"),
    [
        ("stall", IN_WEST_CELL, "已有单位", "g-9", True, ("已有单位", "g-9", "case")),
        ("stall", IN_WEST_CELL, None, None, True, ("外滩街道城管执法中队", "310101-0101", "grid")),
        ("stall", IN_WEST_CELL, None, "g-9", True, ("外滩街道城管执法中队", "g-9", "grid")),
        ("stall", IN_WEST_CELL, None, None, False, ("城管执法中队", None, "family")),
        ("garbage", OUTSIDE, None, None, True, ("环卫所", None, "family")),
        ("graffiti", OUTSIDE, None, None, True, ("城市管理指挥中心", None, "fallback")),
    ],
)
def test_route_case(family: str, where: tuple[float, float], unit: str | None, grid: str | None,
                    with_zones: bool, expected: tuple[str, str | None, str]) -> None:
    zones = load_zones([ZONES]) if with_zones else None
    route = route_case(family, *where, unit=unit, grid_id=grid, units=UNITS, zones=zones)
    assert (route.unit, route.grid_id, route.source) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [([], "expected a mapping"), ({"families": {}}, "'fallback' must name a unit"),
     ({"fallback": "x", "families": ["a"]}, "must map family"), ({"fallback": "x", "families": {"a": ""}}, "families")],
)
def test_units_file_errors(raw: object, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        parse_units(raw)
