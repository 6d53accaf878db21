"""PostGIS geometry: a ``geom`` point beside lat/lon on observations, violations and cases

On PostgreSQL where the ``postgis`` extension has been created in the database (``CREATE
EXTENSION postgis``, the owner's or a superuser's decision): adds ``geom geometry(Point, 4326)``
to ``observations``, ``violations`` and ``cases``, fills it from lat/lon, indexes it with GiST,
and creates a trigger per table that sets it from lat/lon on every insert and update
(``streetwatch.store.spatial_ddl``). lat/lon stay the columns the code writes; ``geom`` is
derived. A row without a position has a NULL ``geom``.

Elsewhere (SQLite; PostgreSQL without the extension) it does nothing, and queries keep the
lat/lon and H3 path (``streetwatch.store.spatial``). If the extension is created later,
``streetwatch db upgrade`` adds the geometry then (``streetwatch.store.db.upgrade``).

Zones are GeoJSON files, not database rows (``streetwatch.core.zones``): there is no zones table
to add geometry to.

Downgrade drops the triggers, their function, the indexes and the columns; it leaves the
extension in place (other schemas may use it, and creating it was not this revision's doing).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 07:00:00
"""
from __future__ import annotations

from alembic import op

from streetwatch.store.spatial_ddl import install_geometry, remove_geometry

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    install_geometry(op.get_bind())


def downgrade() -> None:
    remove_geometry(op.get_bind())
