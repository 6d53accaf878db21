"""Helpers for the run-orchestrator, CLI and end-to-end tests: one street clip, GPS files, DB reads.

The street clip (a pan over ultralytics' ``bus.jpg``, people and a bus) is built once per test
session (once per pytest-xdist worker) and reused: encoding it and running the detector on it
are the expensive parts. The detector itself is loaded once per process, too.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import gpxpy.gpx
import pytest
from sqlalchemy import Executable, func, select

from streetwatch.core.geo import destination, haversine_m, initial_bearing_deg
from streetwatch.core.settings import Settings, get_settings
from streetwatch.datasets import synthetic
from streetwatch.datasets.demo import demo_image_path
from streetwatch.pipeline.run import detector_config
from streetwatch.store.db import make_engine
from streetwatch.store.models import Evidence, Observation, Video, Violation
from streetwatch.vision.detector import Detector, build_detector

REPO = Path(__file__).resolve().parents[2]
CLIP_SECONDS = 5.0
CLIP_FPS = 10.0
CLIP_SIZE = (640, 360)
SAMPLE_FPS = 3.0                 # frames analysed per second in most tests: enough to track, cheap
TRACK_START_UTC = datetime(2026, 11, 2, 1, 30, 0, tzinfo=UTC)
TRACK_START_LATLON = (31.2304, 121.4737)
TRACK_HEADING_DEG = 90.0         # driving east
TRACK_SPEED_MPS = 4.0
TABLES = {"videos": Video, "observations": Observation, "violations": Violation, "evidence": Evidence}


def shared_street_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's street clip (5 s, 10 fps, 640x360), built on first use."""
    path = tmp_path_factory.getbasetemp() / "shared-street-clip" / "street.mp4"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name("street.partial.mp4")
        synthetic.make_patrol_clip(partial, demo_image_path(), seconds=CLIP_SECONDS, fps=CLIP_FPS,
                                   size=CLIP_SIZE)
        partial.rename(path)  # never leave a half-written clip under the shared name
    return path


@cache
def shared_detector() -> Detector:
    """The bundled model with the backend `process` uses by default, loaded once per process."""
    return build_detector(detector_config(get_settings()))


def run_settings(db_url: str, workdir: Path, **overrides: object) -> Settings:
    """Settings for a test run: the given database, evidence under ``workdir``, few frames per second."""
    values: dict[str, object] = {"sample_fps": SAMPLE_FPS, "evidence_dir": workdir / "evidence"} | overrides
    return get_settings(db_url=db_url, **values)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def track_point(t_s: float) -> tuple[float, float]:
    """Where the synthetic car is ``t_s`` seconds after the track starts."""
    return destination(*TRACK_START_LATLON, TRACK_HEADING_DEG, TRACK_SPEED_MPS * t_s)


def write_gpx_fixes(path: Path, times_s: Sequence[float], start_utc: datetime = TRACK_START_UTC) -> Path:
    """A GPX track of the car driving east, with fixes only at ``times_s`` (seconds from the start).

    Leaving times out makes gaps: the fixes either side stay where the car really was.
    """
    segment = gpxpy.gpx.GPXTrackSegment()
    for t in times_s:
        lat, lon = track_point(t)
        segment.points.append(gpxpy.gpx.GPXTrackPoint(latitude=lat, longitude=lon,
                                                      time=start_utc + timedelta(seconds=t)))
    track = gpxpy.gpx.GPXTrack(name="test patrol")
    track.segments.append(segment)
    gpx = gpxpy.gpx.GPX()
    gpx.tracks.append(track)
    path.write_text(gpx.to_xml(version="1.1"), encoding="utf-8")
    return path


def write_straight_gpx(path: Path, seconds: float = CLIP_SECONDS + 1.0, hz: float = 1.0) -> Path:
    """A gap-free GPX track at ``hz`` covering ``seconds``."""
    return write_gpx_fixes(path, [i / hz for i in range(math.floor(seconds * hz) + 1)])


def along_and_cross_track_m(lat: float, lon: float, start: tuple[float, float], heading_deg: float
                            ) -> tuple[float, float]:
    """Distance of a point along a straight road from ``start`` (heading ``heading_deg``), and off it."""
    distance = haversine_m(*start, lat, lon)
    if distance == 0.0:
        return 0.0, 0.0
    angle = math.radians(initial_bearing_deg(*start, lat, lon) - heading_deg)
    return distance * math.cos(angle), distance * math.sin(angle)


def table_counts(db_url: str) -> dict[str, int]:
    """Rows per table of interest: videos, observations, violations, evidence."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {name: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
                    for name, model in TABLES.items()}
    finally:
        engine.dispose()


def fetch_rows(db_url: str, statement: Executable) -> list[dict[str, Any]]:
    """Rows of a SELECT as dicts, typed by the ORM columns (datetimes come back as datetimes)."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(statement)]
    finally:
        engine.dispose()


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for the UTC columns; make them aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def seconds_between(stored: datetime | None, expected: datetime) -> float:
    """How far a stored UTC time is from the expected one (inf when nothing was stored)."""
    value = as_utc(stored)
    return math.inf if value is None else abs((value - expected).total_seconds())


def cli_command(*args: str) -> list[str]:
    """argv that runs the ``streetwatch`` CLI in a fresh interpreter."""
    return [sys.executable, "-m", "streetwatch.cli.main", *args]


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for CLI subprocesses: offline, wide console, no inherited STREETWATCH_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREETWATCH_")}
    # One torch thread each: the subprocesses share a couple of cores with the test runner.
    env.update({"YOLO_OFFLINE": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"},
               **extra)
    return env


def start_cli(*args: str, **env: str) -> subprocess.Popen[str]:
    """Start ``streetwatch <args>`` in the repository root; stdout and stderr merged."""
    return subprocess.Popen(cli_command(*args), cwd=REPO, env=cli_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def one_line(text_: str) -> str:
    """Output with all whitespace runs collapsed, so wrapped console lines still match."""
    return " ".join(text_.split())


def wait_for_processing_row(db_url: str, poll: Callable[[], int | None], timeout_s: float = 180.0) -> None:
    """Poll until the video row exists in status 'processing'; fail if the process ends first."""
    engine = make_engine(db_url)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                status = conn.execute(select(Video.status)).scalar_one_or_none()
            if status == "processing":
                return
            assert status is None, f"expected the video to be 'processing' when first seen, found {status!r}"
            assert poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError(f"no video row in status 'processing' after {timeout_s} s")
