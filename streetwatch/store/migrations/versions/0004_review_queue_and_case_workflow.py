"""review queue leases, case workflow, case events, audit log

Adds the review queue's lease on ``violations`` (``lease_owner``, ``lease_expires_at``); the
workflow's times and SLA deadlines on ``cases``; the reject reason code and moved position on
``review_decisions``; the append-only ``case_events`` table (KPIs are computed from it); and
the hash-chained ``audit_log``. Every new column is nullable: existing rows need no values.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_CASE_TIMES = ("filed_at", "dispatched_at", "handle_due", "close_due", "handled_at", "closed_at")


def upgrade() -> None:
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_violations_lease_owner"), ["lease_owner"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name in _CASE_TIMES:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_handle_due"), ["handle_due"], unique=False)

    with op.batch_alter_table("review_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("new_lat", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("new_lon", sa.Float(), nullable=True))

    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(length=255), nullable=True),
        sa.Column("grid_id", sa.String(length=64), nullable=True),
        sa.Column("handle_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_events_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_case_events_action_created_at", ["action", "created_at"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))
    op.drop_table("audit_log")

    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index("ix_case_events_action_created_at")
        batch_op.drop_index(batch_op.f("ix_case_events_created_at"))
        batch_op.drop_index(batch_op.f("ix_case_events_case_id"))
    op.drop_table("case_events")

    with op.batch_alter_table("review_decisions", schema=None) as batch_op:
        batch_op.drop_column("new_lon")
        batch_op.drop_column("new_lat")
        batch_op.drop_column("reason_code")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_handle_due"))
        for name in reversed(_CASE_TIMES):
            batch_op.drop_column(name)

    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_violations_lease_owner"))
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
