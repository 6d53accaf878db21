"""Revision 0008 on a SQLite file that already holds 0007 rows: up adds ``review_labels`` (foreign keys enforced)
and keeps every row; down drops the table and nothing else; up again works over the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from streetwatch.store.db import alembic_config, make_engine, upgrade
from tests.store.test_migration_0002 import ROWS, _insert

LABEL = {"id": 1, "frame_sha256": "b" * 64, "video_id": 7, "observation_id": 11, "kind": "adjust_box",
         "class_name": "car", "x1": 1.0, "y1": 2.0, "x2": 30.0, "y2": 40.0, "model_name": "streetwatch-v1",
         "decision_id": 17, "reviewer": "li.wei", "created_at": "2026-01-02 00:00:00+00:00"}


@pytest.fixture
def at_0007(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A SQLite file at 0007 with one row per older table (videos, evidence, observations, violations, decisions)."""
    url = f"sqlite:///{tmp_path / 'streetwatch.db'}"
    upgrade(url, "0007")
    engine = make_engine(url)
    for table, row in ROWS:
        _insert(engine, table, row)
    try:
        yield url, engine
    finally:
        engine.dispose()


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_0008_goes_up_and_down_over_existing_rows(at_0007: tuple[str, Engine]) -> None:
    url, engine = at_0007
    assert "review_labels" not in inspect(engine).get_table_names()

    upgrade(url, "0008")
    assert {c["name"] for c in inspect(engine).get_columns("review_labels")} == set(LABEL) | {"target_label_id"}
    assert {i["name"] for i in inspect(engine).get_indexes("review_labels")} == {
        "ix_review_labels_created_at", "ix_review_labels_frame_sha256", "ix_review_labels_observation_id",
        "ix_review_labels_video_id"}
    _insert(engine, "review_labels", LABEL)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT kind, x2 FROM review_labels")).one() == ("adjust_box", 30.0)
    with pytest.raises(Exception, match=r"(?i)foreign key"):  # a label of an observation that does not exist
        _insert(engine, "review_labels", {**LABEL, "id": 2, "observation_id": 999})

    command.downgrade(alembic_config(url), "0007")
    assert "review_labels" not in inspect(engine).get_table_names()
    for table, _ in ROWS:
        assert _count(engine, table) == 1, table

    upgrade(url)  # and up again, over the same rows
    assert _count(engine, "review_labels") == 0 and _count(engine, "review_decisions") == 1
