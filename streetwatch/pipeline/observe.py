"""From tracked detections to observations: one per object, with its best evidence frame.

Tracks are collected frame by frame. A track not seen for a while is finished: its class is
voted, its best sighting chosen, its evidence encoded, and the frame it points to released,
so memory stays bounded on long footage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from streetwatch.core.types import EvidenceImage, Location, LocationStatus, Motion, Observation, TrackPoint
from streetwatch.store.evidence import encode_jpeg
from streetwatch.vision.detections import Detections
from streetwatch.vision.types import Frame

# (all track points, best point, class name, frame width, frame height) -> where the object is,
# and when the best sighting was (UTC).
Locator = Callable[[Sequence[TrackPoint], TrackPoint, str, int, int], tuple[Location, float | None]]
# (track id, all track points, class name, where it was placed) -> its motion state, or None for
# objects that do not move by themselves (signs, bins).
MotionJudge = Callable[[int, Sequence[TrackPoint], str, Location], Motion | None]

CROP_MARGIN = 0.15          # crop this fraction of the box size around it
BORDER_PENALTY = 0.5        # a box cut by the frame edge makes poorer evidence


@dataclass(slots=True)
class _OpenTrack:
    track_id: int
    points: list[TrackPoint] = field(default_factory=list)
    # class name -> summed confidence (a float tally, which Counter's int typing does not allow)
    class_votes: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    best_score: float = -1.0
    best: TrackPoint | None = None
    best_image: npt.NDArray[np.uint8] | None = None
    last_pts_s: float = 0.0


def evidence_score(xyxy: tuple[float, float, float, float], confidence: float, width: int, height: int) -> float:
    """Bigger, surer, uncut boxes make better evidence."""
    x1, y1, x2, y2 = xyxy
    score = confidence * float(np.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0)))
    if x1 <= 1 or y1 <= 1 or x2 >= width - 1 or y2 >= height - 1:
        score *= BORDER_PENALTY
    return score


def crop_with_margin(image: npt.NDArray[np.uint8], xyxy: tuple[float, float, float, float]) -> npt.NDArray[np.uint8]:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = xyxy
    mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    left, top = max(int(x1 - mx), 0), max(int(y1 - my), 0)
    right, bottom = min(int(np.ceil(x2 + mx)), w), min(int(np.ceil(y2 + my)), h)
    if right <= left or bottom <= top:
        return image[0:1, 0:1].copy()
    return np.ascontiguousarray(image[top:bottom, left:right])


class ObservationBuilder:
    """Collects tracked detections of one video and yields finished observations."""

    def __init__(self, locate: Locator, min_frames: int = 2, finish_after_s: float = 5.0,
                 jpeg_quality: int = 90, judge_motion: MotionJudge | None = None) -> None:
        self._locate = locate
        self._judge_motion = judge_motion
        self._min_frames = min_frames
        self._finish_after_s = finish_after_s
        self._jpeg_quality = jpeg_quality
        self._open: dict[int, _OpenTrack] = {}
        self._size = (0, 0)

    def add(self, frame: Frame, detections: Detections) -> Iterator[Observation]:
        """Add one frame's tracked detections; yields the tracks that this frame finishes."""
        self._size = (frame.width, frame.height)
        if detections.tracker_id is not None and len(detections):
            names = detections.class_names(default="object")
            confidences = (detections.confidence if detections.confidence is not None
                           else np.ones(len(detections)))
            for xyxy, conf, track_id, name in zip(detections.xyxy, confidences, detections.tracker_id, names,
                                                  strict=True):
                box = tuple(float(v) for v in xyxy)
                point = TrackPoint(frame.index, frame.pts_s, box, float(conf))  # type: ignore[arg-type]
                track = self._open.setdefault(int(track_id), _OpenTrack(int(track_id)))
                track.points.append(point)
                track.class_votes[str(name)] += float(conf)
                track.last_pts_s = frame.pts_s
                score = evidence_score(point.xyxy, point.confidence, frame.width, frame.height)
                if score > track.best_score:
                    track.best_score, track.best, track.best_image = score, point, frame.image
        stale = [tid for tid, t in self._open.items() if frame.pts_s - t.last_pts_s > self._finish_after_s]
        for track_id in stale:
            if (observation := self._finish(self._open.pop(track_id))) is not None:
                yield observation

    def finish_all(self) -> Iterator[Observation]:
        """Finish every open track (end of video)."""
        for track_id in sorted(self._open):
            if (observation := self._finish(self._open[track_id])) is not None:
                yield observation
        self._open.clear()

    def _finish(self, track: _OpenTrack) -> Observation | None:
        if len(track.points) < self._min_frames or track.best is None or track.best_image is None:
            if self._judge_motion is not None:   # let the judge forget the track's evidence
                self._judge_motion(track.track_id, (), "", Location(LocationStatus.UNKNOWN))
            return None
        image, best = track.best_image, track.best
        height, width = image.shape[:2]
        votes = track.class_votes
        class_name = max(votes, key=votes.__getitem__)  # the first seen wins a tie
        location, time_utc = self._locate(track.points, best, class_name, width, height)
        motion = (self._judge_motion(track.track_id, track.points, class_name, location)
                  if self._judge_motion is not None else None)
        frame_jpeg: EvidenceImage = encode_jpeg(image, quality=self._jpeg_quality)
        crop_jpeg: EvidenceImage = encode_jpeg(crop_with_margin(image, best.xyxy), quality=self._jpeg_quality)
        return Observation(
            track_id=track.track_id,
            class_name=class_name,
            confidence=max(p.confidence for p in track.points),
            points=tuple(track.points),
            best=best,
            time_utc=time_utc,
            location=location,
            frame=frame_jpeg,
            crop=crop_jpeg,
            motion=motion,
        )
