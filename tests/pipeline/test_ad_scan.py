"""Banners and small ads found by the OCR's own text regions, end to end: a generated street clip
(frames from ``render_street_frame``) processed with OCR on files a banner and a small ad whose
phone number is stored and searchable."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from streetwatch.core.rule_params import RuleParams
from streetwatch.core.settings import get_settings
from streetwatch.datasets.street_text import render_street_frame
from streetwatch.datasets.synthetic import write_video
from streetwatch.pipeline.ad_scan import FOUND_BY, AdTextScanner
from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.store import queries
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Observation, Violation
from streetwatch.vision.detections import Detections
from streetwatch.vision.ocr import OcrEngineMissingError, RegionFilter, TextLine
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

    def read(self, image: np.ndarray, select: RegionFilter | None = None) -> list[TextLine]:
        self.widths.append(image.shape[1])
        k = image.shape[1] / 1280
        lines = [TextLine("创建全国文明城市共建美好家园", 0.99, (110 * k, 50 * k, 900 * k, 110 * k))]
        if select is not None:   # as the engine does: only the regions the caller selects are read
            lines = [ln for ln, keep in zip(lines, select(image, [ln.box_xyxy for ln in lines]), strict=True) if keep]
        return lines


@pytest.mark.parametrize("background", [False, True])
def test_the_scan_reads_one_frame_per_interval_at_reduced_size_and_groups_sightings(background: bool) -> None:
    rendered = render_street_frame(size=(1280, 720))
    reader = ScriptedReader()
    scanner = AdTextScanner(reader, interval_s=2.0, max_width=640, background=background)  # type: ignore[arg-type]
    for i in range(25):                                    # 5 s at 5 fps, the camera panning
        scanner.offer(Frame("v", i, i * 0.2, np.roll(rendered.image, 6 * i, axis=1)))
    (banner,) = scanner.sightings()                        # in the background: waits for the last reads
    assert scanner.frames_read == 3 and reader.widths == [640, 640, 640]   # at 0, 2 and 4 s
    assert banner.kind == "banner" and len(banner.points) == 3
    assert [p.pts_s for p in banner.points] == pytest.approx([0.0, 2.0, 4.0])   # in frame order
    assert banner.points[0].xyxy == pytest.approx((110, 50, 900, 110))    # back in the frame's pixels
    scanner.close()
    if background:
        assert not [t for t in threading.enumerate() if t.name.startswith("streetwatch-ocr")]


def test_a_view_that_stays_the_same_is_read_once_until_it_changes_or_a_minute_passes() -> None:
    """A fixed camera (or a patrol car at a light): the view is read once; traffic moving through it does
    not make it another view, the camera moving on does; after 60 s a still view is read again."""
    street = render_street_frame(size=(960, 540)).image
    reader = ScriptedReader()
    scanner = AdTextScanner(reader, interval_s=4.0)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    for i in range(100):                               # 50 s at 2 fps, something crossing the view
        image = street.copy()
        x = (i * 37) % 800
        image[300:420, x:x + 160] = (40, 40, 200)        # a car-sized block driving through
        image = np.clip(image.astype(np.int16) + rng.integers(-3, 4, image.shape), 0, 255).astype(np.uint8)
        scanner.offer(Frame("v", i, i * 0.5, image))
    assert scanner.frames_read == 1 and scanner.frames_same_view == 12   # due at 4, 8, ... 48 s: all the same
    scanner.offer(Frame("v", 100, 52.0, np.roll(street, 200, axis=1)))   # the camera moved on
    assert scanner.frames_read == 2
    for i, t in enumerate((56.0, 60.0, 112.0)):
        scanner.offer(Frame("v", 101 + i, t, np.roll(street, 200, axis=1)))
    assert scanner.frames_read == 3                    # 56 and 60 s: the same view; 112 s: a minute later
    everything = AdTextScanner(ScriptedReader(), interval_s=4.0, same_view_diff=None)  # type: ignore[arg-type]
    for i in range(5):
        everything.offer(Frame("v", i, i * 4.0, street))
    assert everything.frames_read == 5


def test_a_missing_ocr_engine_turns_the_background_scan_off(caplog: pytest.LogCaptureFixture) -> None:
    class Missing:
        def read(self, image: np.ndarray, select: RegionFilter | None = None) -> list[TextLine]:
            raise OcrEngineMissingError("OCR engine 'x' is not installed")

    scanner = AdTextScanner(Missing(), interval_s=1.0, background=True)  # type: ignore[arg-type]
    for i in range(10):
        scanner.offer(Frame("v", i, i * 0.5, render_street_frame(size=(320, 180)).image))
    assert scanner.sightings() == [] and not scanner.available
    assert sum("ad text scan is off" in r.message for r in caplog.records) == 1
    scanner.close()


PAN_SIZE = (960, 540)
PAN_PX_PER_S = 100.0       # the camera passes the scene sideways: 0.33 car diagonals per second
PAN_SECONDS, PAN_FPS = 3.0, 2.0
PAN_MARGIN = int(PAN_PX_PER_S * PAN_SECONDS)


@pytest.fixture(scope="module")
def passing_street() -> tuple[list[np.ndarray], list[list[tuple[float, float, float, float]]], tuple[str, ...]]:
    """A patrol car passing a street front: banner, small ad, a parked car with its plate.

    One rendered street (``render_street_frame``), its right edge extended, seen through a window
    that slides right by ``PAN_PX_PER_S``; fresh sensor noise per frame. Returns the frames, the
    cars' boxes per frame (those fully in view) and the plates drawn.
    """
    # one car at the kerb right of the road ahead (its flat-ground offset from the camera's path is
    # about 2 m: not in the patrol car's lane), big enough for its plate to be read
    rendered = render_street_frame(size=PAN_SIZE, ad_phone=PHONE, seed=0, plates=("沪AD12345",),
                                   car_boxes=((0.76, 0.43, 0.96, 0.66),))
    wide = cv2.copyMakeBorder(rendered.image, 0, 0, 0, PAN_MARGIN, cv2.BORDER_REPLICATE)
    frames, boxes = [], []
    rng = np.random.default_rng(3)
    for i in range(int(PAN_SECONDS * PAN_FPS)):
        x0 = round(PAN_PX_PER_S * i / PAN_FPS)
        view = wide[:, x0:x0 + PAN_SIZE[0]].astype(np.int16) + rng.normal(0, 2, (PAN_SIZE[1], PAN_SIZE[0], 3))
        frames.append(np.clip(view, 0, 255).astype(np.uint8))
        shift = -x0
        in_view = [(x1 + shift, y1, x2 + shift, y2) for x1, y1, x2, y2 in (p.vehicle_box for p in rendered.plates)]
        boxes.append([b for b in in_view if b[0] >= 0 and b[2] <= PAN_SIZE[0]])
    return frames, boxes, tuple(p.text for p in rendered.plates)


class ScriptedCars:
    """Reports the drawn cars' boxes as class "car" (the bundled model does not take drawings of cars
    for cars); everything after detection runs for real."""

    names: ClassVar[dict[int, str]] = {2: "car"}
    model_name = "scripted-cars"

    def __init__(self, boxes: list[list[tuple[float, float, float, float]]]) -> None:
        self.boxes, self.calls = boxes, 0

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        out = []
        for _ in images:
            here = self.boxes[self.calls]
            self.calls += 1
            out.append(Detections(xyxy=np.array(here, np.float32).reshape(-1, 4),
                                     confidence=np.full(len(here), 0.9, np.float32),
                                     class_id=np.full(len(here), 2)))
        return out


def test_a_passing_patrol_car_files_the_ads_and_reads_the_parked_cars_plate(passing_street: tuple[
        list[np.ndarray], list[list[tuple[float, float, float, float]]], tuple[str, ...]], tmp_path: Path) -> None:
    """The issue's generated street frame end to end: a banner violation, a small ad whose phone is stored and
    searchable, and a parked car (it moves with the background while the camera passes) whose plate is read."""
    frames, boxes, plates = passing_street
    clip = write_video(tmp_path / "passing.mp4", frames, fps=PAN_FPS)
    db_url = sqlite_url(tmp_path / "passing.db")
    gps = write_straight_gpx(tmp_path / "passing.gpx", seconds=PAN_SECONDS + 1.0)
    settings = run_settings(db_url, tmp_path, ocr=True, sample_fps=PAN_FPS)
    detector = ScriptedCars(boxes)
    summary = process_videos([clip], settings, gps, progress=False, detector=detector)  # type: ignore[arg-type]
    (outcome,) = summary.outcomes
    assert isinstance(outcome, Processed), outcome
    assert detector.calls == len(frames)   # every frame was sampled: the scripted boxes line up
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            found = _text_violations(session)
            assert set(found) == {"banner", "small_ad"}, found
            assert found["small_ad"].observation.attributes["phones"] == PHONE
            rows, _ = queries.list_violations(session, phone=PHONE)
            assert [v.id for v in rows] == [found["small_ad"].id]
            cars = session.scalars(select(Observation).where(Observation.class_name == "car")).all()
            assert cars, "the scripted cars were not tracked"
            parked = [c for c in cars if c.motion_state == "parked"]
            assert parked, [(c.track_id, c.motion_state, c.motion_reason) for c in cars]
            read = {c.attributes.get("plate") for c in parked} - {None}
            assert read and read <= set(plates), (read, plates)
    finally:
        engine.dispose()


@pytest.mark.parametrize(("value", "expected"), [("off", None), ("null", None), ("7.5", 7.5)])
def test_the_same_view_skip_is_set_or_turned_off_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str,
                                                                     expected: float | None) -> None:
    monkeypatch.setenv("STREETWATCH_OCR_SCAN_SAME_VIEW", value)
    assert get_settings().ocr_scan_same_view == expected
    monkeypatch.setenv("STREETWATCH_OCR_SCAN_SAME_VIEW", "-1")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        get_settings()
