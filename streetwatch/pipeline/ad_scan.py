"""Banners (横幅) and small ads (小广告) found by the OCR's own text regions, not by the detector.

A detector trained on shop fronts rarely knows a red cloth banner or a paper stuck to a pole; the
text on them says what they are. A few sampled frames per video (at most one every
``interval_s`` of footage, read at no more than ``max_width`` pixels wide) go through the OCR,
and only when the view has changed since the last frame read: a fixed camera, or a patrol car
waiting at a light, shows the same text again, and reading it again costs CPU for nothing (a
stationary view is read again after ``rescan_s``). ``vision.ad_text.classify_ad_text`` flags
the text regions that look like a banner (a long flat row of Chinese on uniform saturated cloth)
or a small ad (a small patch with a phone number or a small-ad word). Sightings of the same ad in
successive scans (same kind, same phone numbers or mostly the same text) are one object, placed
like a wall-mounted sign from the camera pose.

Only the text regions whose shape and colour could make an ad are recognised
(:func:`~streetwatch.vision.ad_text.ad_text_regions`): a shop sign too large for a small ad and not a
banner's flat saturated cloth is detected but not read. Measured with the same ads found: the scan's CPU
a quarter lower on the bench clip, a third lower on the street-text photos (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from streetwatch.core.types import Observation, TrackPoint
from streetwatch.pipeline.observe import Locator, crop_with_margin
from streetwatch.store.evidence import encode_jpeg
from streetwatch.vision.ad_text import AdTextCandidate, ad_text_regions, classify_ad_text
from streetwatch.vision.ocr import OcrEngineMissingError, TextLine, TextReader
from streetwatch.vision.types import Frame
from streetwatch.vision.views import SAME_VIEW_DIFF, same_view, thumbnail

log = logging.getLogger(__name__)

SCAN_INTERVAL_S: Final = 2.0     # at most one OCR'd frame per this much footage (CPU budget)
SCAN_MAX_WIDTH: Final = 960      # frames are read at this width at most
RESCAN_S: Final = 60.0           # a view that stays the same is read again after this long
MAX_PENDING: Final = 2           # frames waiting for the background reader before offer() waits
SAME_TEXT: Final = 0.6           # texts at least this similar are the same ad
FOUND_BY: Final = "ocr_text"     # attributes["found_by"] of an ad found this way
# Track ids of ads found this way start here, clear of the tracker's own ids.
AD_TRACK_BASE: Final = 1_000_000


@dataclass(slots=True)
class AdSighting:
    """One ad seen in one or more scanned frames: its kind, its text, its sightings and best frame."""

    kind: str                                  # banner | small_ad: the taxonomy class
    text: str
    phones: tuple[str, ...]
    reason: str                                # what made it one (aspect, colour, phone, words)
    points: list[TrackPoint] = field(default_factory=list)
    best: TrackPoint | None = None
    best_image: npt.NDArray[np.uint8] | None = None
    best_area: float = -1.0

    def add(self, point: TrackPoint, image: npt.NDArray[np.uint8], candidate: AdTextCandidate) -> None:
        self.points.append(point)
        x1, y1, x2, y2 = point.xyxy
        area = (x2 - x1) * (y2 - y1) * point.confidence
        if area > self.best_area:
            self.best_area, self.best, self.best_image = area, point, image
            self.text, self.reason = candidate.text, candidate.reason
        self.phones = tuple(dict.fromkeys((*self.phones, *candidate.phones)))

    def matches(self, candidate: AdTextCandidate) -> bool:
        if candidate.kind != self.kind:
            return False
        if candidate.phones and self.phones:
            return bool(set(candidate.phones) & set(self.phones))
        return SequenceMatcher(None, candidate.text, self.text).ratio() >= SAME_TEXT


class AdTextScanner:
    """Reads a few frames of one video and collects the banners and small ads on them.

    Args:
        reader: The OCR reader (shared with the run's other OCR stage).
        interval_s: At most one frame per this much footage is read.
        max_width: Frames wider than this are shrunk before reading (boxes are scaled back).
        background: Read in a thread of its own while the caller goes on (the OCR then overlaps the
            detector on a second core); results are taken in frame order. Call :meth:`close` when done.
        same_view_diff: A frame whose view differs from the last frame read by at most this much (see
            :func:`~streetwatch.vision.views.view_difference`) is not read, unless ``rescan_s`` have
            passed; None reads every interval.
        rescan_s: How long a view that stays the same goes unread.
    """

    def __init__(self, reader: TextReader, interval_s: float = SCAN_INTERVAL_S,
                 max_width: int = SCAN_MAX_WIDTH, background: bool = False,
                 same_view_diff: float | None = SAME_VIEW_DIFF, rescan_s: float = RESCAN_S) -> None:
        self.reader = reader
        self.interval_s = interval_s
        self.max_width = max_width
        self.same_view_diff = same_view_diff
        self.rescan_s = rescan_s
        self.available = True
        self.frames_read = 0
        self.frames_same_view = 0       # frames due for reading that showed the last read view again
        self._next_pts_s = 0.0
        self._last_view: tuple[float, npt.NDArray[np.uint8]] | None = None   # when read, its thumbnail
        self._sightings: list[AdSighting] = []
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="streetwatch-ocr") if background else None
        self._pending: deque[tuple[Frame, float, npt.NDArray[np.uint8], Future[list[TextLine]]]] = deque()

    def offer(self, frame: Frame) -> None:
        """Read the frame if it is time to (the first frame, then one per ``interval_s``) and its view
        is not the one read last."""
        if not self.available or frame.pts_s < self._next_pts_s:
            return
        self._next_pts_s = frame.pts_s + self.interval_s
        image = frame.image
        if self.same_view_diff is not None:
            view = thumbnail(image)
            if (self._last_view is not None and frame.pts_s - self._last_view[0] < self.rescan_s
                    and same_view(view, self._last_view[1], self.same_view_diff)):
                self.frames_same_view += 1
                return
            self._last_view = (frame.pts_s, view)
        scale = min(1.0, self.max_width / image.shape[1])
        small: npt.NDArray[np.uint8] = image
        if scale < 1.0:
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            small = np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        if self._pool is None:
            done: Future[list[TextLine]] = Future()
            try:
                done.set_result(self.reader.read(small, select=ad_text_regions))
            except OcrEngineMissingError as exc:
                done.set_exception(exc)
            self._absorb(frame, scale, small, done)
            return
        self._pending.append((frame, scale, small, self._pool.submit(self.reader.read, small, select=ad_text_regions)))
        self._take_results(wait=len(self._pending) > MAX_PENDING)

    def _take_results(self, wait: bool) -> None:
        """Absorb the background reader's results in frame order: the finished ones, or all when ``wait``."""
        while self._pending and (wait or self._pending[0][3].done()):
            self._absorb(*self._pending.popleft())

    def close(self) -> None:
        """Wait for the frames still being read, then stop the background reader."""
        self._take_results(wait=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _absorb(self, frame: Frame, scale: float, small: npt.NDArray[np.uint8],
                reading: Future[list[TextLine]]) -> None:
        try:
            lines = reading.result()
        except OcrEngineMissingError as exc:
            if self.available:
                log.warning("ad text scan is off: %s", exc)
            self.available = False
            return
        image = frame.image
        self.frames_read += 1
        scores = {line.box_xyxy: line.score for line in lines}
        for candidate in classify_ad_text(lines, small):
            x1, y1, x2, y2 = candidate.box_xyxy
            inside = [s for b, s in scores.items() if _inside(b, candidate.box_xyxy)]
            confidence = float(np.mean(inside)) if inside else 0.5
            point = TrackPoint(frame.index, frame.pts_s, (x1 / scale, y1 / scale, x2 / scale, y2 / scale), confidence)
            sighting = next((s for s in self._sightings if s.matches(candidate)), None)
            if sighting is None:
                sighting = AdSighting(candidate.kind, candidate.text, candidate.phones, candidate.reason)
                self._sightings.append(sighting)
            sighting.add(point, image, candidate)

    def sightings(self) -> list[AdSighting]:
        """The ads found so far (waiting for the frames still being read), each with at least one sighting."""
        self._take_results(wait=True)
        return [s for s in self._sightings if s.best is not None]


def _inside(box: tuple[float, float, float, float], outer: tuple[float, float, float, float]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]


def ad_text_observations(sightings: list[AdSighting], locate: Locator) -> list[Observation]:
    """One observation per ad found in the text, placed by ``locate`` (wall-mounted classes: from the
    camera pose), with its text, phone numbers and why it is one in the attributes."""
    out: list[Observation] = []
    for i, sighting in enumerate(sightings):
        best, image = sighting.best, sighting.best_image
        if best is None or image is None:
            continue
        height, width = image.shape[:2]
        location, time_utc = locate(sighting.points, best, sighting.kind, width, height)
        attributes = {"found_by": FOUND_BY, "text": sighting.text, "ad_text_reason": sighting.reason}
        if sighting.phones:
            attributes["phones"] = ",".join(sighting.phones)
        out.append(Observation(
            track_id=AD_TRACK_BASE + i, class_name=sighting.kind, confidence=max(p.confidence for p in sighting.points),
            points=tuple(sighting.points), best=best, time_utc=time_utc, location=location,
            frame=encode_jpeg(image), crop=encode_jpeg(crop_with_margin(image, best.xyxy)), attributes=attributes))
    return out
