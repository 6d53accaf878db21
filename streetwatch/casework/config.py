"""The workflow's configuration: deadlines and holidays, default units, grid zones, case radius.

Files default to ``models/workflow``; a city points elsewhere with environment variables
``STREETWATCH_WORKFLOW_DEADLINES_PATH`` and ``STREETWATCH_WORKFLOW_UNITS_PATH`` (the zones and
the case radius come from the main settings: ``STREETWATCH_ZONES_PATHS``, ``STREETWATCH_CASE_RADIUS_M``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from streetwatch.casework.deadlines import DeadlineTable, load_deadlines
from streetwatch.casework.routing import UnitTable, load_units
from streetwatch.core.settings import WorkflowSettings as WorkflowSettings  # a section of Settings

if TYPE_CHECKING:
    from streetwatch.core.zones import ZoneIndex


@dataclass(frozen=True, slots=True)
class WorkflowConfig:
    """What routing and the SLA clock need.

    Attributes:
        deadlines: Time limits per event code on the working calendar.
        units: Default responsible units per family.
        case_radius_m: Sightings of one family this close are one case (as at ingest).
        zones: Zones with grid cells (网格) for routing, if the city has them.
    """

    deadlines: DeadlineTable
    units: UnitTable
    case_radius_m: float
    zones: ZoneIndex | None = None


def load_workflow_config(
    case_radius_m: float, zones_paths: Sequence[Path] = (), settings: WorkflowSettings | None = None,
) -> WorkflowConfig:
    """Read the config files (raises ``CalendarError``, ``RoutingError`` or ``ZoneError`` on a bad one)."""
    settings = settings or WorkflowSettings()  # callers with a Settings pass its .workflow
    zones = None
    if zones_paths:
        from streetwatch.core.zones import load_zones  # shapely and pyproj: only when zones are used

        zones = load_zones(zones_paths)
    return WorkflowConfig(deadlines=load_deadlines(settings.deadlines_path), units=load_units(settings.units_path),
                          case_radius_m=case_radius_m, zones=zones)
