"""PostGIS geometry: a ``geom`` point beside lat/lon on observations, violations and cases

On PostgreSQL where the ``postgis`` extension has been created in the database (``CREATE
EXTENSION postgis``, a superuser's or the database owner's decision, made before this
revision runs): adds ``geom geometry(Point, 4326)`` to ``observations``, ``violations`` and
``cases``, fills it from lat/lon, indexes it with GiST, and creates a trigger per table that
sets it from lat/lon on every insert and update, so no writer (the ORM, raw SQL, a later
migration) can let the two disagree. lat/lon stay the columns the code writes; ``geom`` is
derived. A row without a position has a NULL ``geom``.

Elsewhere (SQLite; PostgreSQL without the extension) it does nothing: queries keep the
lat/lon and H3 path (``streetwatch.store.spatial`` picks the path by what the database has).

Zones are not stored in the database (they are GeoJSON files, see ``streetwatch.core.zones``),
so there is no zones table to add geometry to.

Downgrade drops the triggers, their function, the indexes and the columns; it leaves the
extension in place (other schemas may use it, and creating it was not this revision's doing).

Revision ID: 0017
Revises: 0011
Create Date: 2026-12-02 07:00:00
"""
from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0017"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("observations", "violations", "cases")
FUNCTION = "streetwatch_geom_from_lat_lon"


def _has_postgis() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    return bind.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is not None


def _has_geom(table: str) -> bool:
    return op.get_bind().execute(text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = :table AND column_name = 'geom'"), {"table": table}).first() is not None


def upgrade() -> None:
    if not _has_postgis():
        return
    # The extension may live in any schema the search path reaches (Debian's: public).
    op.execute(f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.lat IS NULL OR NEW.lon IS NULL THEN
                NEW.geom := NULL;
            ELSE
                NEW.geom := ST_SetSRID(ST_MakePoint(NEW.lon, NEW.lat), 4326);
            END IF;
            RETURN NEW;
        END
        $$""")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN geom geometry(Point, 4326)")
        op.execute(f"UPDATE {table} SET geom = ST_SetSRID(ST_MakePoint(lon, lat), 4326) "
                   "WHERE lat IS NOT NULL AND lon IS NOT NULL")
        op.execute(f"CREATE INDEX ix_{table}_geom ON {table} USING gist (geom)")
        # Every update, not only UPDATE OF lat, lon: a direct write to geom is put right too.
        op.execute(f"CREATE TRIGGER {table}_geom BEFORE INSERT OR UPDATE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()")
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        if not _has_geom(table):
            continue
        op.execute(f"DROP TRIGGER IF EXISTS {table}_geom ON {table}")
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_geom")
        op.execute(f"ALTER TABLE {table} DROP COLUMN geom")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
