"""outbox: events and their deliveries; Open311 requests received

Adds ``outbox_events`` (one row per domain event, written in the transaction of the change that
caused it; ``event_id`` is the stable id receivers see), ``outbox_deliveries`` (one row per
event and destination, with the worker's claim, retry count and schedule, and the outcome) and
``open311_requests`` (what a 311 system POSTed to our GeoReport v2 endpoint, one per case it
started).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("aggregate_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_events_aggregate_id"), ["aggregate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_events_event_type"), ["event_type"], unique=False)

    op.create_table(
        "outbox_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("remote_ref", sa.String(length=255), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.event_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "destination"),
    )
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_deliveries_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_deliveries_claim_token"), ["claim_token"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_deliveries_destination"), ["destination"], unique=False)

    op.create_table(
        "open311_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("media_url", sa.String(length=2048), nullable=True),
        sa.Column("address_string", sa.String(length=512), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("jurisdiction_id", sa.String(length=64), nullable=True),
        sa.Column("submitted_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )


def downgrade() -> None:
    op.drop_table("open311_requests")

    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_deliveries_destination"))
        batch_op.drop_index(batch_op.f("ix_outbox_deliveries_claim_token"))
        batch_op.drop_index("ix_outbox_deliveries_due")
    op.drop_table("outbox_deliveries")

    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_event_type"))
        batch_op.drop_index(batch_op.f("ix_outbox_events_created_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_events_aggregate_id"))
    op.drop_table("outbox_events")
