"""Banners and small ads found by the OCR's own text regions, end to end: a generated street clip
(frames from ``render_street_frame``) processed with OCR on files a banner and a small ad whose
phone number is stored and searchable."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.core.rule_params import RuleParams
from streetwatch.datasets.street_text import render_street_frame
from streetwatch.datasets.synthetic import write_video
from streetwatch.pipeline.ad_scan import FOUND_BY, AdTextScanner
from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.store import queries
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Observation, Violation
from streetwatch.vision.ocr import OcrEngineMissingError, TextLine
from streetwatch.vision.types import Frame
from tests.pipeline.run_helpers import run_settings, shared_detector, sqlite_url, write_straight_gpx

SIZE = (960, 540)
SECONDS, FPS = 3.0, 5.0
PHONE = "13812345678"


@pytest.fixture(scope="module")
def street_text_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of a street with a red banner, a small ad on a pole and two cars (light sensor noise per frame)."""
    path = tmp_path_factory.mktemp("street-text") / "street-text.mp4"
    frames = [render_street_frame(size=SIZE, ad_phone=PHONE, seed=i).image for i in range(int(SECONDS * FPS))]
    return write_video(path, frames, fps=FPS)


def test_a_street_clip_files_a_banner_and_a_small_ad_with_its_phone(street_text_clip: Path, tmp_path: Path) -> None:
    db_url = sqlite_url(tmp_path / "ads.db")
    gps = write_straight_gpx(tmp_path / "street-text.gpx", seconds=SECONDS + 1.0)
    settings = run_settings(db_url, tmp_path, ocr=True, sample_fps=2.0)
    summary = process_videos([street_text_clip], settings, gps, progress=False, detector=shared_detector())
    (outcome,) = summary.outcomes
    assert isinstance(outcome, Processed), outcome
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            found = _text_violations(session)
            assert set(found) == {"banner", "small_ad"}, found
            banner, small_ad = found["banner"], found["small_ad"]
            assert (banner.event_code, small_ad.event_code) == ("0203", "0201")
            threshold = RuleParams().queue_threshold("ads")
            assert banner.priority >= threshold and small_ad.priority >= threshold   # in the review queue
            assert "创建全国文明城市" in banner.observation.attributes["text"]
            assert small_ad.observation.attributes["phones"] == PHONE
            assert f"phone {PHONE}" in small_ad.reason and small_ad.extra["basis"] == "text"
            rows, _ = queries.list_violations(session, phone="138-1234-5678")
            assert [v.id for v in rows] == [small_ad.id]
            # each ad is one object, however many frames it was read in
            texts = session.scalars(select(Observation).where(Observation.class_name.in_(("banner", "small_ad")))).all()
            assert len(texts) == 2
    finally:
        engine.dispose()


def _text_violations(session: Session) -> dict[str, Violation]:
    rows = session.scalars(select(Violation).join(Observation, Observation.id == Violation.observation_id)
                           .where(Observation.class_name.in_(("banner", "small_ad")))).all()
    return {v.class_name: v for v in rows if v.observation.attributes.get("found_by") == FOUND_BY}


class ScriptedReader:
    """Stands in for the OCR: the lines of the rendered frame, in the coordinates of what it is given."""

    def __init__(self) -> None:
        self.widths: list[int] = []

    def read(self, image: np.ndarray) -> list[TextLine]:
        self.widths.append(image.shape[1])
        k = image.shape[1] / 1280
        return [TextLine("创建全国文明城市共建美好家园", 0.99, (110 * k, 50 * k, 900 * k, 110 * k))]


@pytest.mark.parametrize("background", [False, True])
def test_the_scan_reads_one_frame_per_interval_at_reduced_size_and_groups_sightings(background: bool) -> None:
    rendered = render_street_frame(size=(1280, 720))
    reader = ScriptedReader()
    scanner = AdTextScanner(reader, interval_s=2.0, max_width=640, background=background)  # type: ignore[arg-type]
    for i in range(25):                                    # 5 s at 5 fps
        scanner.offer(Frame("v", i, i * 0.2, rendered.image))
    (banner,) = scanner.sightings()                        # in the background: waits for the last reads
    assert scanner.frames_read == 3 and reader.widths == [640, 640, 640]   # at 0, 2 and 4 s
    assert banner.kind == "banner" and len(banner.points) == 3
    assert [p.pts_s for p in banner.points] == pytest.approx([0.0, 2.0, 4.0])   # in frame order
    assert banner.points[0].xyxy == pytest.approx((110, 50, 900, 110))    # back in the frame's pixels
    scanner.close()
    if background:
        assert not [t for t in threading.enumerate() if t.name.startswith("streetwatch-ocr")]


def test_a_missing_ocr_engine_turns_the_background_scan_off(caplog: pytest.LogCaptureFixture) -> None:
    class Missing:
        def read(self, image: np.ndarray) -> list[TextLine]:
            raise OcrEngineMissingError("OCR engine 'x' is not installed")

    scanner = AdTextScanner(Missing(), interval_s=1.0, background=True)  # type: ignore[arg-type]
    for i in range(10):
        scanner.offer(Frame("v", i, i * 0.5, render_street_frame(size=(320, 180)).image))
    assert scanner.sightings() == [] and not scanner.available
    assert sum("ad text scan is off" in r.message for r in caplog.records) == 1
    scanner.close()
