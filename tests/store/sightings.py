"""Sightings placed on the map, committed as real videos through the claim/commit protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.geo import destination
from streetwatch.core.types import Location, LocationStatus
from streetwatch.core.types import Violation as ViolationData
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Case, Violation
from streetwatch.store.writes import Claimed, CommitSummary, claim_video, commit_video_results
from tests.store.builders import observation, results, video_meta

SessionFactory = sessionmaker[Session]

ORIGIN = (31.2304, 121.4737)   # Shanghai, People's Square
T0 = 1_767_000_000.0           # 2025-12-29 09:20:00 UTC
HOUR = 3600.0
# family -> (detector class, event code) as in models/taxonomy.yaml
FAMILY_CLASS = {
    "parking": ("car", "0508"),
    "stall": ("umbrella", "0502"),
    "garbage": ("garbage_pile", "0101"),
    "ads": ("shop_sign", "0204"),
}


@dataclass(frozen=True, slots=True)
class Sighting:
    """One violation: ``metres_east`` / ``metres_north`` of ``ORIGIN`` (None: position unknown)."""

    family: str = "parking"
    metres_east: float | None = 0.0
    metres_north: float = 0.0
    t_utc: float | None = T0
    extra: tuple[tuple[str, str], ...] = ()
    uncertainty_m: float | None = None
    n_views: int = 1

    def lat_lon(self) -> tuple[float, float] | None:
        if self.metres_east is None:
            return None
        lat, lon = destination(ORIGIN[0], ORIGIN[1], 90.0, self.metres_east)
        return destination(lat, lon, 0.0, self.metres_north)


def violation_for(sighting: Sighting) -> ViolationData:
    class_name, code = FAMILY_CLASS[sighting.family]
    return ViolationData(family=sighting.family, event_code=code, name_zh="违规", name_en="violation",
                         reason=f"{class_name} seen", rule=f"{sighting.family}.test", rule_version="3",
                         extra=dict(sighting.extra))


_seed_counter = iter(range(10_000, 1_000_000))


def commit_sightings(
    session_factory: SessionFactory,
    store: EvidenceStore,
    video_name: str,
    sightings: Sequence[Sighting],
    video_fields: dict[str, Any] | None = None,
    **commit_options: float,
) -> CommitSummary:
    """Claim a new video and commit one observation + violation per sighting.

    ``video_fields`` replace fields of the builders' ``VideoResults`` (e.g. ``time_status``).
    """
    claim = claim_video(session_factory, video_meta(video_name), "worker-cases")
    assert isinstance(claim, Claimed), claim
    items = []
    for track_id, sighting in enumerate(sightings, start=1):
        point = sighting.lat_lon()
        location = (Location(LocationStatus.UNKNOWN) if point is None
                    else Location(LocationStatus.GEOLOCATED, lat=point[0], lon=point[1],
                                  uncertainty_m=sighting.uncertainty_m, n_views=sighting.n_views))
        obs = observation(track_id, seed=next(_seed_counter), location=location, time_utc=sighting.t_utc,
                          class_name=FAMILY_CLASS[sighting.family][0])
        items.append((obs, violation_for(sighting)))
    video_results = replace(results(items), **(video_fields or {}))
    return commit_video_results(session_factory, claim.video_id, "worker-cases", video_results, store,
                                **commit_options)


def all_cases(session_factory: SessionFactory) -> list[Case]:
    with session_factory() as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def case_ids_of_violations(session_factory: SessionFactory) -> list[int | None]:
    with session_factory() as session:
        return list(session.scalars(select(Violation.case_id).order_by(Violation.id)))


def utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def as_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # SQLite hands back naive UTC
