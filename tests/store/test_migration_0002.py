"""Revision 0002 on a database that already holds 0001 rows: up keeps them with defaults, down drops
only what 0002 added. On SQLite (batch mode copies tables) and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from streetwatch.store.db import alembic_config, make_engine, upgrade

VIDEO = {"id": 7, "sha256": "a" * 64, "filename": "old.mp4", "size_bytes": 10, "container": "mp4",
         "codec": "h264", "width": 640, "height": 480, "rotation": 0, "duration_s": 3.0, "status": "done",
         "frames_sampled": 3, "detections": 2, "gps_fixes": 0, "gps_offset_s": 0.0,
         "created_at": "2026-01-01 00:00:00+00:00"}
EVIDENCE = {"sha256": "b" * 64, "media_type": "image/jpeg", "size_bytes": 5, "width": 1, "height": 1,
            "created_at": "2026-01-01 00:00:00+00:00"}
OBSERVATION = {"id": 11, "video_id": 7, "track_id": 1, "class_name": "car", "family": "parking",
               "confidence": 0.9, "pts_start_s": 0.0, "pts_end_s": 1.0, "best_pts_s": 0.5,
               "location_status": "geolocated", "lat": 31.2, "lon": 121.4, "bbox": "[0, 0, 1, 1]",
               "track_points": "[]", "frame_sha256": "b" * 64, "crop_sha256": "b" * 64,
               "created_at": "2026-01-01 00:00:00+00:00"}
VIOLATION = {"id": 13, "observation_id": 11, "family": "parking", "class_name": "car", "event_code": "0508",
             "name_zh": "机动车乱停放", "name_en": "illegal parking", "reason": "old", "rule": "taxonomy",
             "rule_version": "1", "extra": "{}", "status": "approved", "lat": 31.2, "lon": 121.4,
             "created_at": "2026-01-01 00:00:00+00:00", "updated_at": "2026-01-01 00:00:00+00:00"}
DECISION = {"id": 17, "violation_id": 13, "action": "approve", "reviewer": "li.wei",
            "created_at": "2026-01-01 00:00:00+00:00"}
# Parents first; batch mode rebuilding a parent table must not cascade-delete its children.
ROWS = [("videos", VIDEO), ("evidence", EVIDENCE), ("observations", OBSERVATION), ("violations", VIOLATION),
        ("review_decisions", DECISION)]

ADDED_COLUMNS = {
    "videos": {"gps_dropped", "time_status", "gps_kind"},
    "observations": {"uncertainty_m", "n_views"},
    "violations": {"case_id"},
}


def _insert(engine: Engine, table: str, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    with engine.begin() as connection:
        connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


@pytest.fixture
def at_0001(db_url: str) -> Iterator[tuple[str, Engine]]:
    """``db_url`` taken back to 0001 and filled with one row per table."""
    command.downgrade(alembic_config(db_url), "0001")
    engine = make_engine(db_url)
    for table, row in ROWS:
        _insert(engine, table, row)
    try:
        yield db_url, engine
    finally:
        engine.dispose()


def test_upgrade_keeps_rows_and_fills_defaults(at_0001: tuple[str, Engine]) -> None:
    url, engine = at_0001

    upgrade(url, "0002")

    with engine.connect() as connection:
        video = connection.execute(text("SELECT gps_dropped, time_status, gps_kind, filename FROM videos")).one()
        obs = connection.execute(text("SELECT uncertainty_m, n_views, class_name FROM observations")).one()
        vio = connection.execute(text("SELECT case_id, status, reason FROM violations")).one()
        cases = connection.execute(text("SELECT count(*) FROM cases")).scalar_one()
        decisions = connection.execute(text("SELECT violation_id FROM review_decisions")).scalars().all()
    gps_dropped = video[0] if isinstance(video[0], dict) else json.loads(video[0])
    assert (gps_dropped, video[1], video[2], video[3]) == ({}, "unverified", None, "old.mp4")
    assert tuple(obs) == (None, 1, "car")
    assert tuple(vio) == (None, "approved", "old")
    assert (cases, decisions) == (0, [13])
    # The foreign key is enforced: a violation cannot point at a case that does not exist.
    with pytest.raises(Exception, match=r"(?i)foreign key"), engine.begin() as connection:
        connection.execute(text("UPDATE violations SET case_id = 999"))


def test_downgrade_drops_only_what_0002_added(at_0001: tuple[str, Engine]) -> None:
    url, engine = at_0001
    upgrade(url, "0002")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO cases (id, family, event_code, status, lat, lon, h3_cell, sightings, recurrence_count, "
            "created_at, updated_at) VALUES (1, 'parking', '0508', 'open', 31.2, 121.4, '8c309a3d4b6c1ff', 1, 0, "
            "'2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')"))
        connection.execute(text("UPDATE violations SET case_id = 1"))

    command.downgrade(alembic_config(url), "0001")

    inspector = inspect(engine)
    assert "cases" not in inspector.get_table_names()
    for table, added in ADDED_COLUMNS.items():
        assert not added & _columns(engine, table), table
    with engine.connect() as connection:
        for table, row in ROWS:
            key = "sha256" if table == "evidence" else "id"
            assert connection.execute(text(f"SELECT count(*) FROM {table} WHERE {key} = :k"),
                                      {"k": row[key]}).scalar_one() == 1, table

    upgrade(url)  # and up again, over the same rows
    assert all(added <= _columns(engine, table) for table, added in ADDED_COLUMNS.items())
