"""Rows for the workflow store tests: violations committed as ingest does (cases attached), and helpers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.config import WorkflowConfig
from streetwatch.casework.deadlines import load_deadlines
from streetwatch.casework.routing import load_units
from streetwatch.store.cases import DEFAULT_CASE_RADIUS_M, attach_violations, lock_case_areas
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Evidence, Observation, Video, Violation
from streetwatch.store.models_outbox import OutboxEvent

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
BASE = (31.2304, 121.4737)
CONFIG = WorkflowConfig(deadlines=load_deadlines(), units=load_units(), case_radius_m=DEFAULT_CASE_RADIUS_M)
_CLASSES = {"parking": ("car", "0508", "机动车乱停放"), "stall": ("stall", "0502", "占道经营")}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def add_violations(
    factory: sessionmaker[Session], positions: Sequence[tuple[float, float] | None], *, family: str = "parking",
    name: str = "v", evidence_dir: Path | None = None,
) -> list[int]:
    """Insert one video with a pending violation per position (None: unlocated), attached to cases.

    The evidence rows name stand-in images; with ``evidence_dir`` their files are written there too
    (bytes that hash to their names), so that a dispatch's evidence check finds them intact.
    """
    class_name, code, name_zh = _CLASSES[family]
    if evidence_dir is not None:
        for part in ("frame", "crop"):
            data = f"{name}-{part}".encode()
            path = EvidenceStore(evidence_dir).path_for(_sha(f"{name}-{part}"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    with factory.begin() as session:
        video = Video(sha256=_sha(name), filename=f"{name}.mp4", size_bytes=1, container="mp4", codec="h264",
                      width=640, height=480, duration_s=10.0, status="done")
        session.add(video)
        session.add_all([Evidence(sha256=_sha(f"{name}-frame"), media_type="image/jpeg", size_bytes=1),
                         Evidence(sha256=_sha(f"{name}-crop"), media_type="image/jpeg", size_bytes=1)])
        session.flush()
        rows = []
        for i, where in enumerate(positions):
            lat, lon = where if where is not None else (None, None)
            seen = T0 - timedelta(hours=1) + timedelta(seconds=i)
            obs = Observation(video_id=video.id, track_id=i + 1, class_name=class_name, family=family,
                              confidence=0.8, pts_start_s=float(i), pts_end_s=i + 1.0, best_pts_s=i + 0.5, seen_at=seen,
                              location_status="geolocated" if where else "unknown", lat=lat, lon=lon,
                              bbox=[0, 0, 1, 1], track_points=[], frame_sha256=_sha(f"{name}-frame"),
                              crop_sha256=_sha(f"{name}-crop"))
            rows.append(Violation(observation=obs, family=family, class_name=class_name, event_code=code,
                                  name_zh=name_zh, name_en=family, reason="seen", rule="test", rule_version="1",
                                  extra={}, status="pending", seen_at=seen, lat=lat, lon=lon))
        session.add_all(rows)
        session.flush()
        lock_case_areas(session, rows, CONFIG.case_radius_m)
        attach_violations(session, rows, radius_m=CONFIG.case_radius_m)
        return [v.id for v in rows]


def spread(n: int, step_deg: float = 0.001) -> list[tuple[float, float] | None]:
    """``n`` positions ~100 m apart: each violation its own case."""
    return [(BASE[0] + step_deg * i, BASE[1]) for i in range(n)]


def outbox_types(session: Session, case_id: int) -> list[str]:
    return list(session.scalars(select(OutboxEvent.event_type).where(OutboxEvent.aggregate_id == case_id)
                                .order_by(OutboxEvent.seq)))


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)
