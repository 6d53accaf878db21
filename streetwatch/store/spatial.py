"""Where the database can do the geometry: PostGIS when it has it, lat/lon and H3 otherwise.

On PostgreSQL with PostGIS (the extension created in the database; migration 0020, or
``streetwatch db upgrade`` run after it, adds the columns: :mod:`streetwatch.store.spatial_ddl`),
observations, violations and cases carry ``geom geometry(Point, 4326)``, kept equal to lat/lon
by a trigger and indexed with GiST. Three searches then use that index:

- a WGS84 box (``bbox=`` on the lists and exports): ``geom && ST_MakeEnvelope(...)`` through the
  index, then ``lon BETWEEN ... AND lat BETWEEN ...`` on the rows it finds (``&&`` compares
  single-precision boxes, so alone it would let through points a hair outside an edge);
- the cases a new sighting may belong to (:mod:`streetwatch.store.cases`): cases within a
  distance in metres, ``geom && <a box around the point>`` (the index) and then
  ``ST_DWithin`` on the geography (true metres on the spheroid);
- the rows inside a zone's polygon: ``ST_Intersects(geom, <polygon>)``.

Everywhere else (SQLite; PostgreSQL without PostGIS) the same searches run on lat/lon columns
and H3 cells, as before. One function, :func:`postgis_enabled`, picks the path, once per engine.
GeoAlchemy2 is imported only on the PostGIS path: SQLite never loads it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Final
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, Connection, Engine, and_, literal_column, select, text
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.vocab import CaseStatus, ViolationStatus
from streetwatch.store.models import Case, Observation, Violation

SRID: Final = 4326
SPATIAL_TABLES: Final = ("observations", "violations", "cases")
# Degrees of latitude per metre, taken from the shortest degree (at the equator, 110.574 km) and
# widened, so that a box drawn with it always holds the circle it stands for.
_DEG_PER_M: Final = 1.0 / 110_574.0 * 1.01
_MAX_COS_LAT: Final = 1e-6   # past this, a box around the pole spans every longitude
Positioned = type[Observation] | type[Violation] | type[Case]

_cache: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()
_cache_lock = threading.Lock()

_HAS_GEOM_SQL: Final = text(
    "SELECT count(*) FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE a.attname = 'geom' AND NOT a.attisdropped AND t.typname = 'geometry' "
    "AND a.attrelid IN (to_regclass('observations'), to_regclass('violations'), to_regclass('cases'))")


def _engine_of(bind: Session | Connection | Engine | sessionmaker[Session]) -> Engine:
    if isinstance(bind, sessionmaker):
        bound = bind.kw.get("bind")
        if isinstance(bound, Connection):
            return bound.engine
        if not isinstance(bound, Engine):
            raise TypeError(f"expected a session factory bound to an engine, got bind={bound!r}")
        return bound
    if isinstance(bind, Session):
        found = bind.get_bind()
        return found if isinstance(found, Engine) else found.engine
    if isinstance(bind, Connection):
        return bind.engine
    return bind


def _geoalchemy_installed() -> bool:
    try:
        import geoalchemy2  # noqa: F401
    except ImportError:
        return False
    return True


def postgis_enabled(bind: Session | Connection | Engine | sessionmaker[Session]) -> bool:
    """Whether this database has the PostGIS geometry columns (and GeoAlchemy2 is installed).

    Asked once per engine (a query of the system catalogue on first use) and remembered. An
    engine made before migration 0020 ran keeps its answer: call :func:`forget_postgis` after
    migrating under a running engine.
    """
    engine = _engine_of(bind)
    if engine.dialect.name != "postgresql":
        return False
    with _cache_lock:
        known = _cache.get(engine)
    if known is not None:
        return known
    if isinstance(bind, Session | Connection):  # the caller's own connection: no second one from the pool
        found = bind.execute(_HAS_GEOM_SQL).scalar_one() == len(SPATIAL_TABLES)
    else:
        with engine.connect() as connection:
            found = connection.execute(_HAS_GEOM_SQL).scalar_one() == len(SPATIAL_TABLES)
    enabled = found and _geoalchemy_installed()
    with _cache_lock:
        _cache[engine] = enabled
    return enabled


def forget_postgis(bind: Session | Connection | Engine | sessionmaker[Session]) -> None:
    """Forget what :func:`postgis_enabled` found for this engine (after a migration)."""
    with _cache_lock:
        _cache.pop(_engine_of(bind), None)


def _geom(model: Positioned) -> Any:
    from geoalchemy2 import Geometry

    # A column of the model's own table (not a second Table object, which would add a FROM).
    return literal_column(f"{model.__tablename__}.geom", Geometry("POINT", SRID))


def _envelope(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> Any:
    from geoalchemy2 import functions as gf

    return gf.ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, SRID)


def bbox_clause(model: Positioned, min_lon: float, min_lat: float, max_lon: float, max_lat: float,
                *, spatial: bool) -> ColumnElement[bool]:
    """SQL: the row's position lies in the box, edges included; rows without a position never do.

    Args:
        model: Observation, Violation or Case.
        min_lon: West edge, degrees.
        min_lat: South edge.
        max_lon: East edge.
        max_lat: North edge.
        spatial: Use the PostGIS index (:func:`postgis_enabled`); else lat/lon comparisons.
    """
    exact = and_(model.lon.between(min_lon, max_lon), model.lat.between(min_lat, max_lat))
    if not spatial:
        return exact
    # ``&&`` finds the rows through the index, but it compares the index's float4 boxes, rounded
    # outward: a point just outside an edge passes it. lat/lon then keep exactly the rows SQLite keeps.
    return and_(_geom(model).intersects(_envelope(min_lon, min_lat, max_lon, max_lat)), exact)


def box_around(lat: float, lon: float, metres: float) -> tuple[float, float, float, float]:
    """A lon/lat box (min_lon, min_lat, max_lon, max_lat) that holds every point within ``metres``."""
    dlat = metres * _DEG_PER_M
    cos_lat = math.cos(math.radians(min(90.0, abs(lat) + dlat)))
    dlon = 180.0 if cos_lat < _MAX_COS_LAT else min(180.0, dlat / cos_lat)
    return (max(-180.0, lon - dlon), max(-90.0, lat - dlat), min(180.0, lon + dlon), min(90.0, lat + dlat))


def near_clause(model: Positioned, lat: float, lon: float, metres: float) -> ColumnElement[bool]:
    """SQL (PostGIS only): the row lies within ``metres`` of (lat, lon), on the spheroid.

    The box (``&&``) lets the GiST index on ``geom`` find the rows; ``ST_DWithin`` on the
    geography then keeps those truly within the distance.
    """
    from geoalchemy2 import functions as gf
    from sqlalchemy import func

    geom = _geom(model)
    point = gf.ST_SetSRID(gf.ST_MakePoint(lon, lat), SRID)
    clause: ColumnElement[bool] = and_(geom.intersects(_envelope(*box_around(lat, lon, metres))),
                                       gf.ST_DWithin(func.geography(geom), func.geography(point), metres))
    return clause


def ids_in_polygon(session: Session, model: Positioned, polygon_wkt: str, *conditions: ColumnElement[bool]
                   ) -> list[int]:
    """The ids of the rows whose position lies in a lon/lat polygon (edges included), in id order.

    On PostGIS, ``ST_Intersects`` with the GiST index; elsewhere the polygon's bounds in SQL and
    shapely's test on what they let through. Both are planar in lon/lat degrees, so they agree.

    Args:
        session: An open session.
        model: Observation, Violation or Case.
        polygon_wkt: A Polygon or MultiPolygon in WKT, WGS84 lon/lat (a zone's ``geometry.wkt``).
        *conditions: More filters on the rows (e.g. a case status).
    """
    if postgis_enabled(session):
        from geoalchemy2 import functions as gf

        hit = gf.ST_Intersects(_geom(model), gf.ST_GeomFromText(polygon_wkt, SRID))
        return list(session.scalars(select(model.id).where(hit, *conditions).order_by(model.id)))
    import numpy as np
    import shapely

    polygon = shapely.from_wkt(polygon_wkt)
    rows = session.execute(select(model.id, model.lon, model.lat)
                           .where(bbox_clause(model, *polygon.bounds, spatial=False), *conditions)
                           .order_by(model.id)).all()
    if not rows:
        return []
    ids = [row[0] for row in rows]
    lons = np.array([row[1] for row in rows], dtype=float)
    lats = np.array([row[2] for row in rows], dtype=float)
    inside = shapely.intersects_xy(polygon, lons, lats)
    return [row_id for row_id, keep in zip(ids, inside.tolist(), strict=True) if keep]


@dataclass(frozen=True, slots=True)
class ZoneTally:
    """What the database holds inside one zone."""

    cases: int
    open_cases: int      # not closed: open, filed, dispatched, handled, checked
    violations: int
    pending: int         # violations waiting for review


def tally_zone(session: Session, polygon_wkt: str) -> ZoneTally:
    """Count the cases and violations positioned inside a zone's polygon (edges included)."""
    return ZoneTally(
        cases=len(ids_in_polygon(session, Case, polygon_wkt)),
        open_cases=len(ids_in_polygon(session, Case, polygon_wkt, Case.status != CaseStatus.CLOSED)),
        violations=len(ids_in_polygon(session, Violation, polygon_wkt)),
        pending=len(ids_in_polygon(session, Violation, polygon_wkt, Violation.status == ViolationStatus.PENDING)),
    )


__all__ = ["SRID", "ZoneTally", "bbox_clause", "box_around", "forget_postgis", "ids_in_polygon", "near_clause",
           "postgis_enabled", "tally_zone"]
