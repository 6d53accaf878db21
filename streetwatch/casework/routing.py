"""Routing a filed case to its responsible unit (责任单位) and grid (网格).

Order: the unit (and grid) the case already has (a zone rule recorded it on its first
sighting); else the grid cell at the case's position (zones of kind ``grid``) and that cell's
unit; else the default unit of the case's family from ``models/workflow/units.yaml``; else
the file's ``fallback`` unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import yaml

from streetwatch.core.errors import ConfigurationError
from streetwatch.core.resources import ASSETS_DIR

if TYPE_CHECKING:
    from streetwatch.core.zones import ZoneIndex

DEFAULT_UNITS_PATH: Final = ASSETS_DIR / "workflow" / "units.yaml"
RouteSource = Literal["case", "grid", "family", "fallback"]


class RoutingError(ConfigurationError, ValueError):
    """A units file that cannot be used."""


@dataclass(frozen=True, slots=True)
class UnitTable:
    """Default responsible units: one per family, and a fallback for the rest."""

    fallback: str
    families: dict[str, str] = field(default_factory=dict)

    def unit_for(self, family: str) -> str:
        """The default unit of ``family`` (the fallback if the family has none)."""
        return self.families.get(family, self.fallback)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a case goes, and which rule decided it."""

    unit: str
    grid_id: str | None
    source: RouteSource


def route_case(
    family: str, lat: float, lon: float, *, unit: str | None, grid_id: str | None,
    units: UnitTable, zones: ZoneIndex | None = None,
) -> Route:
    """Route a case (see the module docstring for the order).

    Args:
        family: The case's family.
        lat: Its latitude.
        lon: Its longitude.
        unit: The unit it already has, if any.
        grid_id: The grid it already has, if any.
        units: Default units per family.
        zones: Zones with grid cells, if the city has them.
    """
    if unit:
        return Route(unit, grid_id, "case")
    cell = zones.grid_at(lat, lon) if zones is not None else None
    if cell is not None:
        from streetwatch.core.zones import GridCell  # shapely and pyproj: only when zones are used

        props = cell.properties
        if isinstance(props, GridCell):
            return Route(props.unit, grid_id or props.grid_id, "grid")
    if family in units.families:
        return Route(units.families[family], grid_id, "family")
    return Route(units.fallback, grid_id, "fallback")


def parse_units(raw: object, source: str = "units") -> UnitTable:
    """Parse a units file's contents (see ``models/workflow/units.yaml``)."""
    if not isinstance(raw, dict):
        raise RoutingError(f"{source}: expected a mapping with 'fallback' and 'families', got {type(raw).__name__}")
    fallback = raw.get("fallback")
    if not isinstance(fallback, str) or not fallback.strip():
        raise RoutingError(f"{source}: 'fallback' must name a unit, got {fallback!r}")
    families = raw.get("families") or {}
    if not isinstance(families, dict):
        raise RoutingError(f"{source}: 'families' must map family -> unit, got {type(families).__name__}")
    for family, unit in families.items():
        if not isinstance(unit, str) or not unit.strip():
            raise RoutingError(f"{source}: families[{family!r}] must name a unit, got {unit!r}")
    return UnitTable(fallback=fallback.strip(), families={str(k): v.strip() for k, v in families.items()})


def load_units(path: Path | str = DEFAULT_UNITS_PATH) -> UnitTable:
    """Read a units file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutingError(f"cannot read units file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise RoutingError(f"units file {path} is not valid YAML: {exc}") from None
    return parse_units(raw, str(path))
