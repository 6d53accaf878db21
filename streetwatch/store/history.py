"""Earlier sightings from the database: the store's :class:`streetwatch.core.history.SightingHistory`.

The overstay rule (the digital chalk mark) asks whether the same kind of object stood at the
same spot on an earlier pass. Every stored observation of a committed video is a sighting,
violation or not: a car parked legally on the first pass is what makes the second pass an
overstay.

Family: an observation's ``family`` column is only set when a rule filed a violation, so the
family is taken from the taxonomy (every detector class, with its aliases, that belongs to the
family) when one is given, plus any observation whose violation had that family.

Search: a lat/lon box around the point (served by the ``(lat, lon)`` index of observations),
then the exact haversine distance. A box needs no cell column on observations and is exact
at any radius, where an H3 cell search would tie the stored rows to one cell resolution.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.geo import EARTH_MEAN_RADIUS_M, haversine_m
from streetwatch.core.history import PastSighting
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import LocationStatus
from streetwatch.store.models import Observation

_METRES_PER_DEGREE: Final = math.pi * EARTH_MEAN_RADIUS_M / 180.0
_BOX_MARGIN: Final = 1.01  # the box is a superset; haversine decides


class DbSightingHistory:
    """Earlier sightings read from the stored observations of committed videos.

    Args:
        session_factory: Makes sessions on the database; each query uses its own short session.
        taxonomy: Maps a family to its detector classes. Without it only observations that
            were filed as violations of that family are found.
        max_age_s: Look back at most this far before ``before_utc`` (None: no limit). Rules
            that only care about recent passes (overstay: hours) should set it, so an old,
            busy spot does not return months of rows.
        location_statuses: Which positions count. By default only ``geolocated`` ones: a
            ``camera`` position is where the patrol car was, not where the object is.

    Raises:
        ValueError: If ``max_age_s`` is not positive or no location status is given.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        taxonomy: Taxonomy | None = None,
        *,
        max_age_s: float | None = None,
        location_statuses: tuple[str, ...] = (LocationStatus.GEOLOCATED,),
    ) -> None:
        if max_age_s is not None and not max_age_s > 0:
            raise ValueError(f"max_age_s must be a positive number of seconds or None, got {max_age_s}")
        if not location_statuses:
            example = LocationStatus.GEOLOCATED.value
            raise ValueError(f"location_statuses must name at least one status (e.g. {example!r})")
        self._session_factory = session_factory
        self._taxonomy = taxonomy
        self._max_age_s = max_age_s
        self._location_statuses = tuple(location_statuses)

    def class_names(self, class_family: str) -> list[str]:
        """The detector class names (and aliases) of a family, by the taxonomy; empty without one."""
        if self._taxonomy is None:
            return []
        names = {name for spec in self._taxonomy.classes.values() if spec.family == class_family
                 for name in (spec.name, *spec.aliases)}
        return sorted(names)

    def previous_sightings(self, class_family: str, lat: float, lon: float, radius_m: float,
                           before_utc: float) -> list[PastSighting]:
        """Sightings of a family within ``radius_m`` of a point, strictly before ``before_utc``.

        Args:
            class_family: A taxonomy family (parking, stall, garbage, ads).
            lat: Latitude of the point, degrees.
            lon: Longitude of the point, degrees.
            radius_m: Search radius, metres (inclusive).
            before_utc: UTC epoch seconds; only sightings seen strictly earlier count.

        Returns:
            The sightings, oldest first.

        Raises:
            ValueError: If the point, radius or time is invalid.
        """
        if not (math.isfinite(lat) and -90.0 <= lat <= 90.0 and math.isfinite(lon) and -180.0 <= lon <= 180.0):
            raise ValueError(f"point must have latitude in [-90, 90] and longitude in [-180, 180], "
                             f"got {lat}, {lon}")
        if not (math.isfinite(radius_m) and radius_m >= 0.0):
            raise ValueError(f"radius_m must be a finite number of metres >= 0, got {radius_m}")
        if not math.isfinite(before_utc):
            raise ValueError(f"before_utc must be finite UTC epoch seconds, got {before_utc}")
        d_lat = radius_m / _METRES_PER_DEGREE * _BOX_MARGIN
        # Longitude degrees shrink with cos(lat); near a pole the box spans every longitude.
        cos_lat = math.cos(math.radians(lat))
        d_lon = 360.0 if cos_lat * 180.0 <= d_lat else d_lat / cos_lat
        before = datetime.fromtimestamp(before_utc, UTC)
        family_match = Observation.family == class_family
        names = self.class_names(class_family)
        if names:
            family_match = or_(family_match, Observation.class_name.in_(names))
        stmt = (
            select(Observation.seen_at, Observation.lat, Observation.lon, Observation.class_name,
                   Observation.video_id)
            .where(family_match, Observation.location_status.in_(self._location_statuses),
                   Observation.seen_at < before,
                   Observation.lat.between(lat - d_lat, lat + d_lat),
                   Observation.lon.between(lon - d_lon, lon + d_lon))
            .order_by(Observation.seen_at, Observation.id)
        )
        if self._max_age_s is not None:
            stmt = stmt.where(Observation.seen_at >= datetime.fromtimestamp(before_utc - self._max_age_s, UTC))
        with self._session_factory() as session:
            rows = session.execute(stmt).all()
        found: list[PastSighting] = []
        for seen_at, row_lat, row_lon, class_name, video_id in rows:
            # The WHERE clause already excludes NULLs; the checks satisfy the type checker.
            if seen_at is None or row_lat is None or row_lon is None:
                continue
            if haversine_m(lat, lon, row_lat, row_lon) <= radius_m:
                found.append(PastSighting(t_utc=seen_at.timestamp(), lat=row_lat, lon=row_lon,
                                          class_name=class_name, video_id=video_id))
        return found
