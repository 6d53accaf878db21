"""cases, geolocation quality, GPS quality

Adds the ``cases`` table (one row per real-world problem) and ``violations.case_id``;
``observations.uncertainty_m`` / ``n_views`` from multi-view geolocation; and on ``videos``
the GPS quality gate's drop counts, the clock's trust level and the kind of GPS source.

New NOT NULL columns carry server defaults so that rows written before this revision get
values: ``n_views`` 1, ``gps_dropped`` {}, ``time_status`` 'unverified'.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 22:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CASE_FK = "fk_violations_case_id_cases"


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("event_code", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("h3_cell", sa.String(length=16), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sightings", sa.Integer(), nullable=False),
        sa.Column("recurrence_count", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.String(length=64), nullable=True),
        sa.Column("unit", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_family"), ["family"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_h3_cell"), ["h3_cell"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_last_seen"), ["last_seen"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_status"), ["status"], unique=False)

    # SQLite cannot add a foreign key in place: batch mode copies the table.
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_violations_case_id"), ["case_id"], unique=False)
        batch_op.create_foreign_key(_CASE_FK, "cases", ["case_id"], ["id"], ondelete="SET NULL")

    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uncertainty_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("n_views", sa.Integer(), server_default="1", nullable=False))

    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gps_dropped", sa.JSON(), server_default=sa.text("'{}'"), nullable=False))
        batch_op.add_column(
            sa.Column("time_status", sa.String(length=16), server_default="unverified", nullable=False)
        )
        batch_op.add_column(sa.Column("gps_kind", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("gps_kind")
        batch_op.drop_column("time_status")
        batch_op.drop_column("gps_dropped")

    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_column("n_views")
        batch_op.drop_column("uncertainty_m")

    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.drop_constraint(_CASE_FK, type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_violations_case_id"))
        batch_op.drop_column("case_id")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_status"))
        batch_op.drop_index(batch_op.f("ix_cases_last_seen"))
        batch_op.drop_index(batch_op.f("ix_cases_h3_cell"))
        batch_op.drop_index(batch_op.f("ix_cases_family"))
    op.drop_table("cases")
