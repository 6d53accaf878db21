"""Revision 0015 over existing videos, on SQLite and PostgreSQL: up makes every stored video a ``video``
(photos came later); down drops the column and nothing else; up again works."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from streetwatch.store.db import alembic_config, make_engine, upgrade

VIDEO = {"id": 5, "sha256": "ab" * 32, "filename": "patrol.mp4", "size_bytes": 1234, "container": "mp4",
         "codec": "h264", "width": 640, "height": 360, "rotation": 0, "duration_s": 5.0, "status": "done",
         "frames_sampled": 0, "detections": 0, "gps_fixes": 0, "gps_offset_s": 0.0,
         "created_at": "2026-01-02 00:00:00+00:00"}


def test_0015_goes_up_and_down_over_existing_videos(db_url: str) -> None:
    command.downgrade(alembic_config(db_url), "0011")
    engine = make_engine(db_url)
    try:
        assert "media" not in {c["name"] for c in inspect(engine).get_columns("videos")}
        columns = ", ".join(VIDEO)
        with engine.begin() as connection:
            connection.execute(text(f"INSERT INTO videos ({columns}) VALUES ({', '.join(':' + c for c in VIDEO)})"),
                               VIDEO)
        upgrade(db_url)
        with engine.connect() as connection:
            row = connection.execute(text("SELECT filename, media FROM videos WHERE id = 5")).one()
        assert tuple(row) == ("patrol.mp4", "video")

        command.downgrade(alembic_config(db_url), "0011")
        assert "media" not in {c["name"] for c in inspect(engine).get_columns("videos")}
        with engine.connect() as connection:
            assert connection.execute(text("SELECT filename FROM videos")).scalar_one() == "patrol.mp4"
        upgrade(db_url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT media FROM videos")).scalar_one() == "video"
    finally:
        engine.dispose()
