"""Earlier sightings, for rules that compare passes (the overstay check's chalk mark)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from streetwatch.core.geo import haversine_m


@dataclass(frozen=True, slots=True)
class PastSighting:
    """An object seen on an earlier pass."""

    t_utc: float
    lat: float
    lon: float
    class_name: str
    video_id: int | None = None


class SightingHistory(Protocol):
    """Where objects were seen before; the store implements it on the database."""

    def previous_sightings(self, class_family: str, lat: float, lon: float, radius_m: float,
                           before_utc: float) -> list[PastSighting]:
        """Sightings of a taxonomy family within ``radius_m`` of a point, strictly before ``before_utc``."""
        ...


class InMemorySightingHistory:
    """A :class:`SightingHistory` over a list, e.g. for the observations of the run in progress."""

    def __init__(self, sightings: Iterable[tuple[str, PastSighting]] = ()) -> None:
        self._sightings: list[tuple[str, PastSighting]] = list(sightings)

    def add(self, class_family: str, sighting: PastSighting) -> None:
        self._sightings.append((class_family, sighting))

    def previous_sightings(self, class_family: str, lat: float, lon: float, radius_m: float,
                           before_utc: float) -> list[PastSighting]:
        return sorted((s for family, s in self._sightings
                       if family == class_family and s.t_utc < before_utc
                       and haversine_m(lat, lon, s.lat, s.lon) <= radius_m), key=lambda s: s.t_utc)
