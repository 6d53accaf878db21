"""The PostGIS geometry columns: adding them (migration 0020, and ``streetwatch db upgrade`` once the
extension exists) and taking them away (0020's downgrade).

On each of observations, violations and cases: ``geom geometry(Point, 4326)`` filled from lat/lon,
the GiST index ``ix_<table>_geom``, and the trigger ``<table>_geom`` that sets ``geom`` from lat/lon
on every insert and update (so no writer can let them drift apart; a direct write to ``geom`` is put
back). Only where the ``postgis`` extension has been created in the database: creating it is the
owner's or a superuser's decision (``CREATE EXTENSION postgis``), never ours. Elsewhere, nothing.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Connection, text

GEOMETRY_TABLES: Final = ("observations", "violations", "cases")
TRIGGER_FUNCTION: Final = "streetwatch_geom_from_lat_lon"

_FUNCTION_SQL: Final = f"""
CREATE OR REPLACE FUNCTION {TRIGGER_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.lat IS NULL OR NEW.lon IS NULL THEN
        NEW.geom := NULL;
    ELSE
        NEW.geom := ST_SetSRID(ST_MakePoint(NEW.lon, NEW.lat), 4326);
    END IF;
    RETURN NEW;
END
$$"""


def postgis_created(connection: Connection) -> bool:
    """Whether this is PostgreSQL with the ``postgis`` extension created in the database."""
    if connection.dialect.name != "postgresql":
        return False
    return connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is not None


def _has_geom(connection: Connection, table: str) -> bool:
    return connection.execute(text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = :table AND column_name = 'geom'"), {"table": table}).first() is not None


def install_geometry(connection: Connection) -> list[str]:
    """Add the geometry column, index and trigger to each table that lacks them, if PostGIS is there.

    Runs in the caller's transaction. Idempotent.

    Returns:
        The tables it added geometry to (none on SQLite, without the extension, or when done before).
    """
    if not postgis_created(connection):
        return []
    missing = [t for t in GEOMETRY_TABLES if not _has_geom(connection, t)]
    if not missing:
        return []
    connection.execute(text(_FUNCTION_SQL))
    for table in missing:
        connection.execute(text(f"ALTER TABLE {table} ADD COLUMN geom geometry(Point, 4326)"))
        connection.execute(text(f"UPDATE {table} SET geom = ST_SetSRID(ST_MakePoint(lon, lat), 4326) "
                                "WHERE lat IS NOT NULL AND lon IS NOT NULL"))
        connection.execute(text(f"CREATE INDEX ix_{table}_geom ON {table} USING gist (geom)"))
        # Every update, not only UPDATE OF lat, lon: a direct write to geom is put right too.
        connection.execute(text(f"CREATE TRIGGER {table}_geom BEFORE INSERT OR UPDATE ON {table} "
                                f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER_FUNCTION}()"))
        connection.execute(text(f"ANALYZE {table}"))
    return missing


def remove_geometry(connection: Connection) -> None:
    """Drop the triggers, their function, the indexes and the columns; the extension stays."""
    if connection.dialect.name != "postgresql":
        return
    for table in GEOMETRY_TABLES:
        if _has_geom(connection, table):
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_geom ON {table}"))
            connection.execute(text(f"DROP INDEX IF EXISTS ix_{table}_geom"))
            connection.execute(text(f"ALTER TABLE {table} DROP COLUMN geom"))
    connection.execute(text(f"DROP FUNCTION IF EXISTS {TRIGGER_FUNCTION}()"))
