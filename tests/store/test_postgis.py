"""PostGIS (migration 0020) on a real PostgreSQL with the extension: geometry columns, their GiST
indexes and triggers go up and down; geometry follows lat/lon on every write; the planner uses the
indexes for a box and for the case-matching search.

The same searches on SQLite and PostGIS are compared in ``test_spatial_paths.py``.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import geoalchemy2  # noqa: F401  (reflection knows the geometry type)
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text, update
from sqlalchemy.orm import Session

from streetwatch.store.db import alembic_config, make_engine, make_session_factory, upgrade
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.filters import BBox, time_and_place
from streetwatch.store.models import Base, Case, Observation
from streetwatch.store.spatial import forget_postgis, near_clause, postgis_enabled
from tests.db_fixtures import PostgresServer
from tests.store.sightings import Sighting, commit_sightings

pytestmark = pytest.mark.postgres

TABLES = ("observations", "violations", "cases")
# The revision before the geometry migration. It is the newest so that rows can be written through
# today's models right below it; a later migration must come before it in the chain, or this test
# must write its rows another way.
BEFORE_POSTGIS = "0019"
INSERT_CASE = text(
    "INSERT INTO cases (id, family, event_code, status, lat, lon, h3_cell, sightings, recurrence_count, "
    "created_at, updated_at) VALUES (:id, 'parking', '0508', 'open', :lat, :lon, 'x', 1, 0, now(), now())")


def _geom_columns(engine: Engine) -> dict[str, bool]:
    inspector = inspect(engine)
    return {t: "geom" in {c["name"] for c in inspector.get_columns(t)} for t in TABLES}


def _spatial_objects(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        indexes = conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_%_geom'")).scalars()
        triggers = conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgname LIKE '%_geom'")).scalars()
        return {*indexes, *triggers}


def _geom_xy(engine: Engine, table: str) -> dict[int, tuple[float | None, float | None, float | None, float | None]]:
    """Per row: (lat, lon, ST_Y(geom), ST_X(geom)); checks that every geometry has SRID 4326."""
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, lat, lon, ST_Y(geom), ST_X(geom), ST_SRID(geom) FROM {table}"))
        result = {}
        for row_id, lat, lon, y, x, srid in rows:
            assert srid in (None, 4326), (table, row_id, srid)
            result[row_id] = (lat, lon, y, x)
        return result


def _commit_some(url: str, tmp_path: Path) -> None:
    """Two videos through the store's own commit: located and unlocated sightings, one shared case."""
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        store = EvidenceStore(tmp_path / "evidence")
        commit_sightings(factory, store, "a.mp4", [Sighting(metres_east=0.0), Sighting(metres_east=3.0),
                                                   Sighting(metres_east=None)])
        commit_sightings(factory, store, "b.mp4", [Sighting(metres_east=1.0), Sighting("garbage", 40.0, 5.0)])
    finally:
        engine.dispose()


def _assert_geometry_is_lat_lon(engine: Engine) -> None:
    for table in TABLES:
        rows = _geom_xy(engine, table)
        assert rows, table
        for lat, lon, y, x in rows.values():
            assert (lat, lon) == (y, x), table


def test_0020_goes_up_and_down_and_backfills_existing_rows(postgis_url: str, tmp_path: Path) -> None:
    engine = make_engine(postgis_url)
    try:
        assert _geom_columns(engine) == dict.fromkeys(TABLES, True)
        expected = {f"ix_{t}_geom" for t in TABLES} | {f"{t}_geom" for t in TABLES}
        assert _spatial_objects(engine) == expected

        command.downgrade(alembic_config(postgis_url), BEFORE_POSTGIS)
        assert _geom_columns(engine) == dict.fromkeys(TABLES, False)
        assert _spatial_objects(engine) == set()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'streetwatch_%'")).scalar() == 0
        _commit_some(postgis_url, tmp_path)   # rows written before 0020: backfilled by it

        upgrade(postgis_url)
        assert _geom_columns(engine) == dict.fromkeys(TABLES, True)
        assert _spatial_objects(engine) == expected
        _assert_geometry_is_lat_lon(engine)
        with engine.connect() as conn:
            nulls = conn.execute(text("SELECT count(*) FROM observations WHERE lat IS NULL AND geom IS NULL"))
            assert nulls.scalar() == 1
            # The extension stays through a downgrade: creating it was the operator's doing.
            assert conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")).scalar() == 1
    finally:
        engine.dispose()


def test_head_schema_matches_the_models_besides_geometry(postgis_url: str) -> None:
    """The models know lat/lon only; the geometry columns and PostGIS's own table are all that differ."""
    def ours(obj: object, name: str | None, kind: str, reflected: bool, _compare_to: object) -> bool:
        if kind == "table" and name == "spatial_ref_sys":
            return False
        return not (kind == "column" and name == "geom") and not (kind == "index" and str(name).endswith("_geom"))

    engine = make_engine(postgis_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_object": ours})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_plain_postgresql_and_sqlite_get_no_geometry(db_url: str) -> None:
    """Without the extension (db_url's PostgreSQL database has none) 0020 changes nothing."""
    engine = make_engine(db_url)
    try:
        assert _geom_columns(engine) == dict.fromkeys(TABLES, False)
        assert postgis_enabled(engine) is False
    finally:
        engine.dispose()


def test_db_upgrade_adds_geometry_once_the_extension_is_created_later(postgres_server: PostgresServer,
                                                                      tmp_path: Path) -> None:
    name = f"test_{uuid.uuid4().hex[:16]}"
    postgres_server.create_database(name)
    url = postgres_server.url(name)
    try:
        upgrade(url)    # 0020 runs without the extension: nothing to do
        _commit_some(url, tmp_path)
        engine = make_engine(url)
        try:
            assert _geom_columns(engine) == dict.fromkeys(TABLES, False)
            assert not postgis_enabled(engine)
            with engine.begin() as conn:
                conn.execute(text("CREATE EXTENSION postgis"))
        finally:
            engine.dispose()
        upgrade(url)    # already at head: the geometry is added now, and filled
        upgrade(url)    # and only once
        engine = make_engine(url)
        try:
            assert _geom_columns(engine) == dict.fromkeys(TABLES, True)
            assert _spatial_objects(engine) == {f"ix_{t}_geom" for t in TABLES} | {f"{t}_geom" for t in TABLES}
            _assert_geometry_is_lat_lon(engine)
            assert postgis_enabled(engine)
        finally:
            engine.dispose()
    finally:
        postgres_server.drop_database(name)


def test_geometry_follows_lat_lon_on_every_write(postgis_url: str, tmp_path: Path) -> None:
    engine = make_engine(postgis_url)
    try:
        assert postgis_enabled(engine)
        _commit_some(postgis_url, tmp_path)   # the ORM's inserts and the case's running-mean updates
        _assert_geometry_is_lat_lon(engine)
        with engine.begin() as conn:
            conn.execute(INSERT_CASE, {"id": 100, "lat": 31.0, "lon": 121.0})
        factory = make_session_factory(engine)
        with factory.begin() as session:
            session.execute(update(Case).where(Case.id == 100).values(lat=31.5, lon=121.25))
            session.execute(update(Observation).where(Observation.lat.is_(None)).values(lat=-33.9, lon=18.4))
        with engine.begin() as conn:  # a direct write to geom is put back in step with lat/lon
            conn.execute(text("UPDATE cases SET geom = ST_SetSRID(ST_MakePoint(0, 0), 4326) WHERE id = 100"))
            conn.execute(text("UPDATE violations SET lat = NULL, lon = NULL WHERE lat IS NOT NULL "
                              "AND id = (SELECT min(id) FROM violations)"))
        assert _geom_xy(engine, "cases")[100] == (31.5, 121.25, 31.5, 121.25)
        assert (-33.9, 18.4, -33.9, 18.4) in _geom_xy(engine, "observations").values()
        assert (None, None, None, None) in _geom_xy(engine, "violations").values()
        _assert_geometry_is_lat_lon(engine)
    finally:
        engine.dispose()


def test_postgis_enabled_is_asked_once_per_engine(postgis_url: str) -> None:
    engine = make_engine(postgis_url)
    try:
        assert postgis_enabled(engine)
        command.downgrade(alembic_config(postgis_url), BEFORE_POSTGIS)
        assert postgis_enabled(engine)  # remembered: no catalogue query per request
        forget_postgis(engine)
        assert not postgis_enabled(engine)
        with Session(engine) as session:
            assert not postgis_enabled(session)
    finally:
        engine.dispose()


def _fill_cases(engine: Engine, n: int) -> None:
    rng = random.Random(17)
    with engine.begin() as conn:
        # Points over a 20 km square around Shanghai's centre.
        conn.execute(INSERT_CASE, [{"id": i, "lat": 31.14 + 0.18 * rng.random(), "lon": 121.38 + 0.2 * rng.random()}
                                   for i in range(1, n + 1)])
        conn.execute(text("ANALYZE cases"))


def _plan(engine: Engine, statement: object) -> str:
    with engine.connect() as conn:
        sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]
        return "\n".join(conn.execute(text("EXPLAIN " + sql)).scalars())


def test_the_planner_uses_the_gist_index(postgis_url: str) -> None:
    engine = make_engine(postgis_url)
    try:
        _fill_cases(engine, 4000)
        box = BBox(121.47, 31.22, 121.48, 31.23)   # about 1 km square: a few dozen of 4000 points
        stmt = time_and_place(select(Case.id), Case, Case.last_seen, None, None, box, spatial=True)
        plan = _plan(engine, stmt)
        assert "ix_cases_geom" in plan, plan
        near = select(Case.id).where(Case.family == "parking", near_clause(Case, 31.2304, 121.4737, 250.0))
        plan = _plan(engine, near)
        assert "ix_cases_geom" in plan, plan
        with engine.connect() as conn:  # and the answers are those of lat/lon, and of the true distance
            by_geometry = set(conn.execute(stmt).scalars())
            plain = time_and_place(select(Case.id), Case, Case.last_seen, None, None, box)
            assert by_geometry == set(conn.execute(plain).scalars())
            assert len(by_geometry) > 5
            distances = conn.execute(text(
                "SELECT id, ST_Distance(geography(geom), geography(ST_SetSRID(ST_MakePoint(121.4737, 31.2304), 4326))) "
                "FROM cases")).all()
            within = {i for i, d in distances if d <= 250.0}
            assert set(conn.execute(near).scalars()) == within
            assert within
    finally:
        engine.dispose()


@pytest.mark.slow
def test_process_into_postgis_writes_geometry_equal_to_lat_lon(postgis_url: str, tmp_path: Path,
                                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    """``streetwatch process`` of a generated patrol clip with its GPX track, into a PostGIS database.

    One pass files no violation (its vehicles' motion is unknown); the violations' and cases' geometry
    through the same commit is checked above, with sightings committed by the store.
    """
    from typer.testing import CliRunner

    from streetwatch.cli.main import app
    from tests.pipeline.run_helpers import shared_street_clip, write_straight_gpx

    clip = shared_street_clip(tmp_path_factory)
    gpx = write_straight_gpx(tmp_path / "track.gpx")
    result = CliRunner().invoke(app, ["process", str(clip), "--gps", str(gpx), "--db", postgis_url,
                                      "--evidence", str(tmp_path / "evidence"), "--sample-fps", "2", "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    engine = make_engine(postgis_url)
    try:
        rows = {table: _geom_xy(engine, table) for table in TABLES}
        located = [row for row in rows["observations"].values() if row[0] is not None]
        assert len(located) >= 3, rows   # the clip's objects were placed on the map
        for table, by_id in rows.items():
            for lat, lon, y, x in by_id.values():
                assert (lat, lon) == (y, x), table
    finally:
        engine.dispose()
