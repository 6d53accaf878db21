"""Response models of patrol coverage: per road segment, per grid cell, and one segment's passes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from streetwatch.api.schemas import UtcDatetime
from streetwatch.core.vocab import CoverageStatus


class RoadCoveragePublic(BaseModel):
    """One road segment: who answers for it, when it was last patrolled, how often in the period."""

    id: str
    name: str
    road_class: str
    road_chief: str | None = Field(description="The road's responsible person (路长).")
    unit: str | None = Field(description="The road's responsible unit (责任单位).")
    status: CoverageStatus = Field(description="covered: last pass within stale_after_days of `until`; stale: "
                                   "longer ago; never: no pass on record.")
    last_patrolled: UtcDatetime | None = Field(description="When a patrol last left the segment (up to `until`).")
    passes: int = Field(description="Patrol passes within [since, until].")
    first_in_period: UtcDatetime | None = Field(description="When the period's first pass entered the segment.")
    stale_after_days: float
    length_m: float


class CellCoveragePublic(BaseModel):
    """One H3 grid cell (网格) and the road segments crossing it."""

    id: str = Field(description="The H3 cell index.")
    status: CoverageStatus
    last_patrolled: UtcDatetime | None
    passes: int
    first_in_period: UtcDatetime | None
    stale_after_days: float
    roads: list[str]


class GridCoveragePublic(BaseModel):
    """One grid cell (网格) of the city's zones files and its responsible unit."""

    id: str = Field(description="The grid cell's grid_id.")
    name: str
    unit: str | None
    status: CoverageStatus
    last_patrolled: UtcDatetime | None
    passes: int
    first_in_period: UtcDatetime | None
    stale_after_days: float


class CoverageCounts(BaseModel):
    """How many segments or cells have each status."""

    covered: int
    stale: int
    never: int


class RoadsCoveragePublic(BaseModel):
    """Every road segment's coverage for the period."""

    since: UtcDatetime
    until: UtcDatetime
    counts: CoverageCounts
    items: list[RoadCoveragePublic]


class CellsCoveragePublic(BaseModel):
    """Every grid cell's coverage for the period."""

    since: UtcDatetime
    until: UtcDatetime
    h3_resolution: int
    counts: CoverageCounts
    items: list[CellCoveragePublic]


class GridsCoveragePublic(BaseModel):
    """Every city grid cell's coverage for the period."""

    since: UtcDatetime
    until: UtcDatetime
    counts: CoverageCounts
    items: list[GridCoveragePublic]


class PatrolPassPublic(BaseModel):
    """One drive along a segment or through a cell, from one video."""

    model_config = ConfigDict(from_attributes=True)

    video_id: int
    entered_at: UtcDatetime
    left_at: UtcDatetime
    covered_m: float


class SegmentPassesPublic(BaseModel):
    """A road segment and its passes within the period, newest first."""

    segment: RoadCoveragePublic
    passes: list[PatrolPassPublic]
