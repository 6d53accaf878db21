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

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streetwatch.casework.deadlines import DEFAULT_DEADLINES_PATH, DeadlineTable, load_deadlines
from streetwatch.casework.routing import DEFAULT_UNITS_PATH, UnitTable, load_units

if TYPE_CHECKING:
    from streetwatch.core.zones import ZoneIndex


class WorkflowSettings(BaseSettings):
    """Where the workflow's config files are (environment: ``STREETWATCH_WORKFLOW_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="STREETWATCH_WORKFLOW_", extra="forbid")

    deadlines_path: Path = Field(DEFAULT_DEADLINES_PATH, description="Time limits per event code (YAML); "
                                 "it lists the holiday calendars.")
    units_path: Path = Field(DEFAULT_UNITS_PATH, description="Default responsible unit per family (YAML).")


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
    settings = settings or WorkflowSettings()
    zones = None
    if zones_paths:
        from streetwatch.core.zones import load_zones  # shapely and pyproj: only when zones are used

        zones = load_zones(zones_paths)
    return WorkflowConfig(deadlines=load_deadlines(settings.deadlines_path), units=load_units(settings.units_path),
                          case_radius_m=case_radius_m, zones=zones)
