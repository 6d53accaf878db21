"""Revision 0009 on a SQLite file that already holds 0008 rows: up adds the registry's four tables (foreign keys
enforced) and keeps every row; down drops them and nothing else; up again works over the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from streetwatch.store.db import alembic_config, make_engine, upgrade
from tests.store.test_migration_0002 import ROWS, _insert
from tests.store.test_migration_0008 import LABEL

NEW_TABLES = {"model_versions", "model_activations", "eval_frames", "shadow_frames"}
VERSION = {"version": 1, "name": "streetwatch-v1", "parent_version": None, "training": "{}", "metrics": "{}",
           "folder": "v1", "weights_file": "streetwatch-v1.pt", "weights_sha256": "c" * 64,
           "exports": '[{"file": "streetwatch-v1.onnx", "sha256": "d"}]', "runtime_file": "streetwatch-v1.onnx",
           "created_by": "system", "created_at": "2026-01-03 00:00:00+00:00"}
ACTIVATION = {"id": 1, "version": 1, "action": "register", "forced": False, "comparison": "{}", "actor": "system",
              "created_at": "2026-01-03 00:00:00+00:00"}
EVAL_FRAME = {"frame_sha256": "b" * 64, "video_id": 7, "added_by": "li.wei", "added_at": "2026-01-03 00:00:00+00:00"}
SHADOW = {"id": 1, "video_id": 7, "frame_index": 3, "pts_s": 0.3, "shadow_model": "city@v2", "shadow_version": 1,
          "active_model": "streetwatch-v1@v1", "shadow_detections": "[[0, 0, 1, 1, 0.5, \"car\"]]",
          "active_detections": "[]", "created_at": "2026-01-03 00:00:00+00:00"}


@pytest.fixture
def at_0008(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A SQLite file at 0008 with one row per older table, a label record among them."""
    url = f"sqlite:///{tmp_path / 'streetwatch.db'}"
    upgrade(url, "0008")
    engine = make_engine(url)
    for table, row in [*ROWS, ("review_labels", LABEL)]:
        _insert(engine, table, row)
    try:
        yield url, engine
    finally:
        engine.dispose()


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_0009_goes_up_and_down_over_existing_rows(at_0008: tuple[str, Engine]) -> None:
    url, engine = at_0008
    assert not NEW_TABLES & set(inspect(engine).get_table_names())

    upgrade(url, "0009")
    assert NEW_TABLES <= set(inspect(engine).get_table_names())
    for table, row in (("model_versions", VERSION), ("model_activations", ACTIVATION), ("eval_frames", EVAL_FRAME),
                       ("shadow_frames", SHADOW)):
        _insert(engine, table, row)
        assert _count(engine, table) == 1
    with pytest.raises(Exception, match=r"(?i)foreign key"):  # a frozen frame that is no evidence
        _insert(engine, "eval_frames", {**EVAL_FRAME, "frame_sha256": "e" * 64})
    with pytest.raises(Exception, match=r"(?i)foreign key"):  # an activation of a version never registered
        _insert(engine, "model_activations", {**ACTIVATION, "id": 2, "version": 9})
    with pytest.raises(Exception, match=r"(?i)unique"):       # one shadow row per model and frame
        _insert(engine, "shadow_frames", {**SHADOW, "id": 2})

    command.downgrade(alembic_config(url), "0008")
    assert not NEW_TABLES & set(inspect(engine).get_table_names())
    for table, _ in [*ROWS, ("review_labels", LABEL)]:
        assert _count(engine, table) == 1, table

    upgrade(url)  # and up again, over the same rows
    assert _count(engine, "model_versions") == 0 and _count(engine, "review_labels") == 1
