"""Query models of the GeoJSON and CSV exports."""

from __future__ import annotations

from pydantic import Field

from streetwatch.api.schemas import PlaceTimeFilter
from streetwatch.core.vocab import CaseStatus, ViolationStatus


class _ExportQuery(PlaceTimeFilter):
    """since/until/bbox as for the lists (cases: on last seen), plus the routing filters."""

    family: str | None = Field(None, max_length=32)
    unit: str | None = Field(None, max_length=255, description="Only this responsible unit (via the case).")
    grid: str | None = Field(None, max_length=64, description="Only this grid (via the case).")


class ViolationsExportQuery(_ExportQuery):
    """Filters of a violations export."""

    status: ViolationStatus | None = None


class CasesExportQuery(_ExportQuery):
    """Filters of a cases export."""

    status: CaseStatus | None = None
    overdue: bool | None = Field(None, description="true: only cases past a deadline; false: only the others.")
