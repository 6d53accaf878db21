"""The fleet's backlog: ``GET /metrics`` (Prometheus text), ``streetwatch status`` and the pipeline's counters."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from streetwatch.cli.main import app
from streetwatch.core.settings import Settings
from streetwatch.core.vocab import VideoStatus, ViolationStatus
from streetwatch.pipeline.metrics import PipelineMetrics
from streetwatch.pipeline.outcomes import Failed, Processed, Rejected, Skipped
from streetwatch.store.models import Video, Violation, utcnow

runner = CliRunner()


def metric(text: str, name: str, labels: str = "") -> float:
    """One sample's value from Prometheus' text format."""
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name}{labels} not in:\n{text}"
    return float(match.group(1))


def expected_backlog(session: Session, stale_after_s: float) -> dict[str, int]:
    """The backlog counted directly, to compare with what /metrics and status report."""
    count = session.execute(select(func.count()).select_from(Violation)
                            .where(Violation.status == ViolationStatus.PENDING)).scalar_one()
    by_status = dict(session.execute(select(Video.status, func.count()).group_by(Video.status)).all())
    stale = session.execute(select(func.count()).select_from(Video).where(   # no heartbeat at all: stale too
        Video.status == VideoStatus.PROCESSING,
        Video.heartbeat_at.is_(None) | (Video.heartbeat_at < utcnow() - timedelta(seconds=stale_after_s)))
    ).scalar_one()
    return {"pending": count, "stale": stale, **{str(k): v for k, v in by_status.items()}}


def make_one_claim_stale(session: Session, stale_after_s: float) -> None:
    """A worker that stopped: one done video goes back to processing with an old heartbeat."""
    video_id = session.execute(select(Video.id).where(Video.status == VideoStatus.DONE).limit(1)).scalar_one()
    session.execute(update(Video).where(Video.id == video_id).values(
        status=VideoStatus.PROCESSING, heartbeat_at=utcnow() - timedelta(seconds=stale_after_s + 60)))
    session.commit()


def test_metrics_endpoint_reports_the_backlog_without_sign_in(client: TestClient, settings: Settings,
                                                              session: Session) -> None:
    before = expected_backlog(session, settings.claim_stale_after_s)["stale"]
    make_one_claim_stale(session, settings.claim_stale_after_s)
    expected = expected_backlog(session, settings.claim_stale_after_s)
    assert expected["pending"] > 0 and expected["stale"] == before + 1
    client.headers.clear()   # no token: like /health
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric(text, "streetwatch_backlog_up") == 1
    assert metric(text, "streetwatch_review_queue_depth") == expected["pending"]
    assert metric(text, "streetwatch_stale_claims") == expected["stale"]
    assert metric(text, "streetwatch_videos", '{status="done"}') == expected.get("done", 0)
    assert metric(text, "streetwatch_videos", '{status="failed"}') == expected.get("failed", 0)
    assert metric(text, "streetwatch_videos", '{status="processing"}') == expected.get("processing", 0)
    assert metric(text, "streetwatch_outbox_depth") == 0
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_status_prints_the_backlog_as_json_and_counts_the_depot_folder(settings: Settings, session: Session,
                                                                       tmp_path: Path) -> None:
    make_one_claim_stale(session, settings.claim_stale_after_s)
    expected = expected_backlog(session, settings.claim_stale_after_s)
    depot = tmp_path / "depot"
    (depot / "car-1").mkdir(parents=True)
    for name in ("car-1/a.mp4", "b.MOV", ".c.mp4.partial", "notes.txt"):
        (depot / name).write_bytes(b"x")
    result = runner.invoke(app, ["status", "--db", settings.db_url, "--watch-folder", str(depot), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["review_queue"] == expected["pending"] and report["stale_claims"] == expected["stale"] >= 1
    assert report["videos"] == {status.value: expected.get(status.value, 0) for status in VideoStatus}
    assert report["watch_folder_queued"] == 2          # two videos; hidden and non-video files are not
    assert report["oldest_processing_age_s"] is not None and report["oldest_processing_age_s"] >= 0
    table = runner.invoke(app, ["status", "--db", settings.db_url])
    assert table.exit_code == 0 and "stale claims" in table.stdout and "review queue" in table.stdout


def test_status_on_a_database_without_tables_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--db", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert result.exit_code == 1 and "no such table" in result.output


def test_pipeline_counters_and_the_worker_endpoint(tmp_path: Path, settings: Settings) -> None:
    from streetwatch.store.db import make_engine, make_session_factory

    metrics = PipelineMetrics()
    metrics.queued(4)
    metrics.detected_all([(8, 0.2), (8, 0.3), (3, 0.05)])
    metrics.outcome(Processed(tmp_path / "a.mp4", 1, 19, 40, 3, {}, 1.0), footage_s=60.0)
    metrics.outcome(Skipped(tmp_path / "b.mp4", 1, "already processed"))
    metrics.outcome(Rejected(tmp_path / "c.mp4", "truncated", "no moov"))
    metrics.outcome(Failed(tmp_path / "d.mp4", "boom"))
    engine = make_engine(settings.db_url)
    metrics.watch_backlog(make_session_factory(engine), settings.claim_stale_after_s)
    text = generate_latest(metrics.registry).decode()
    assert metric(text, "streetwatch_videos_queued_total") == 4
    assert metric(text, "streetwatch_videos_processed_total") == 1
    assert metric(text, "streetwatch_videos_skipped_total") == 1
    assert metric(text, "streetwatch_videos_failed_total", '{reason="truncated"}') == 1
    assert metric(text, "streetwatch_videos_failed_total", '{reason="failed"}') == 1
    assert metric(text, "streetwatch_frames_processed_total") == 19
    assert metric(text, "streetwatch_footage_seconds_total") == 60
    assert metric(text, "streetwatch_detector_latency_seconds_count") == 3
    assert abs(metric(text, "streetwatch_detector_latency_seconds_sum") - 0.55) < 1e-9
    assert metric(text, "streetwatch_detector_latency_seconds_bucket", '{le="0.25"}') == 2
    assert metric(text, "streetwatch_backlog_up") == 1
    engine.dispose()
    # A database that does not answer: the scrape still works, and says the backlog is missing.
    broken = PipelineMetrics()
    broken.watch_backlog(make_session_factory(make_engine(f"sqlite:///{tmp_path / 'none.db'}")), 120.0)
    assert metric(generate_latest(broken.registry).decode(), "streetwatch_backlog_up") == 0
    # Served over HTTP from the worker (process/watch --metrics-port).
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics.serve(port, addr="127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        served = response.read().decode()
    assert metric(served, "streetwatch_videos_queued_total") == 4
