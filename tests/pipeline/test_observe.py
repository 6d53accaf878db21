"""From tracked detections to observations: evidence choice, crops, track lifetimes, class votes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest

from streetwatch.core.types import Location, LocationStatus, Observation, TrackPoint
from streetwatch.pipeline.observe import ObservationBuilder, crop_with_margin, evidence_score
from streetwatch.store.evidence import encode_jpeg
from streetwatch.vision.detections import Detections
from streetwatch.vision.types import Frame

WIDTH, HEIGHT = 200, 100
Box = tuple[float, float, float, float]


# --- evidence_score ---------------------------------------------------------------------------

SCORE_PAIRS = [
    # (better box, its confidence), (worse box, its confidence)
    pytest.param(((50, 20, 110, 80), 0.6), ((60, 30, 90, 60), 0.6), id="bigger-beats-smaller"),
    pytest.param(((60, 30, 90, 60), 0.9), ((60, 30, 90, 60), 0.5), id="surer-beats-less-sure"),
    pytest.param(((40, 20, 100, 80), 0.6), ((0, 20, 60, 80), 0.6), id="uncut-beats-cut-left"),
    pytest.param(((40, 20, 100, 80), 0.6), ((140, 20, 200, 80), 0.6), id="uncut-beats-cut-right"),
    pytest.param(((40, 20, 100, 80), 0.6), ((40, 0, 100, 60), 0.6), id="uncut-beats-cut-top"),
    pytest.param(((40, 20, 100, 80), 0.6), ((40, 40, 100, 100), 0.6), id="uncut-beats-cut-bottom"),
    pytest.param(((20, 10, 180, 90), 0.5), ((70, 35, 90, 55), 0.9), id="much-bigger-beats-a-bit-surer"),
    pytest.param(((60, 30, 61, 31), 0.1), ((60, 30, 60, 30), 0.9), id="any-area-beats-none"),
]


@pytest.mark.parametrize(("better", "worse"), SCORE_PAIRS)
def test_evidence_score_prefers_big_uncut_confident_boxes(
    better: tuple[Box, float], worse: tuple[Box, float]
) -> None:
    better_score = evidence_score(better[0], better[1], WIDTH, HEIGHT)
    assert better_score > evidence_score(worse[0], worse[1], WIDTH, HEIGHT)


def test_evidence_score_of_an_empty_box_is_zero() -> None:
    assert evidence_score((50, 50, 40, 40), 0.9, WIDTH, HEIGHT) == 0.0


# --- crop_with_margin -------------------------------------------------------------------------

def numbered_image(width: int = WIDTH, height: int = HEIGHT) -> npt.NDArray[np.uint8]:
    """Every pixel different enough to tell where a crop came from."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.dstack([xs % 256, ys % 256, (xs + ys) % 256]).astype(np.uint8)


CROP_CASES = [
    # box, expected (top, bottom, left, right) in the image; the margin is 15 % of the box size
    pytest.param((50, 20, 90, 60), (14, 66, 44, 96), id="inside"),
    pytest.param((0, 0, 40, 20), (0, 23, 0, 46), id="top-left-corner-clipped"),
    pytest.param((180, 90, 200, 100), (88, 100, 177, 200), id="bottom-right-corner-clipped"),
    pytest.param((-30, -10, 210, 120), (0, 100, 0, 200), id="bigger-than-the-frame"),
]


@pytest.mark.parametrize(("box", "expected"), CROP_CASES)
def test_crop_with_margin_clips_at_the_borders(box: Box, expected: tuple[int, int, int, int]) -> None:
    image = numbered_image()
    top, bottom, left, right = expected
    crop = crop_with_margin(image, box)
    assert crop.shape == (bottom - top, right - left, 3)
    np.testing.assert_array_equal(crop, image[top:bottom, left:right])
    assert crop.flags["C_CONTIGUOUS"]  # the JPEG encoder needs contiguous pixels


def test_crop_of_a_box_outside_the_frame_is_one_pixel() -> None:
    crop = crop_with_margin(numbered_image(), (250.0, 150.0, 260.0, 160.0))
    assert crop.shape == (1, 1, 3)


# --- ObservationBuilder -------------------------------------------------------------------------

@dataclass
class RecordingLocator:
    """A real locator that places everything at one point and remembers what it was asked."""

    calls: list[tuple[TrackPoint, int, int]] = field(default_factory=list)
    tracks: list[tuple[tuple[TrackPoint, ...], str]] = field(default_factory=list)

    def __call__(self, points: Sequence[TrackPoint], best: TrackPoint, class_name: str, width: int,
                 height: int) -> tuple[Location, float | None]:
        self.calls.append((best, width, height))
        self.tracks.append((tuple(points), class_name))
        return Location(LocationStatus.CAMERA, 31.0, 121.0), 1_700_000_000.0 + best.pts_s


@dataclass(frozen=True)
class Sighting:
    track_id: int
    box: Box
    confidence: float = 0.8
    class_name: str = "car"


def make_frame(index: int, pts_s: float) -> Frame:
    image = np.full((HEIGHT, WIDTH, 3), index * 10 % 256, dtype=np.uint8)  # each frame looks different
    return Frame(video_id="v", index=index, pts_s=pts_s, image=image)


def tracked(sightings: Sequence[Sighting]) -> Detections:
    if not sightings:
        return Detections.empty()
    return Detections(
        xyxy=np.array([s.box for s in sightings], dtype=np.float32),
        confidence=np.array([s.confidence for s in sightings], dtype=np.float32),
        class_id=np.zeros(len(sightings), dtype=int),
        tracker_id=np.array([s.track_id for s in sightings]),
        data={"class_name": np.array([s.class_name for s in sightings])},
    )


def feed(builder: ObservationBuilder, frames: Sequence[tuple[float, Sequence[Sighting]]]
         ) -> tuple[list[tuple[int, list[Observation]]], list[Observation]]:
    """Feed (pts_s, sightings) frames; return what each frame finished and what finish_all gave."""
    finished = [(i, list(builder.add(make_frame(i, pts), tracked(s)))) for i, (pts, s) in enumerate(frames)]
    return finished, list(builder.finish_all())


BOX = (40.0, 20.0, 100.0, 80.0)


@pytest.mark.parametrize(("min_frames", "expected_tracks"), [
    (1, [1, 2, 3]),
    (2, [1, 2]),
    (3, [1]),
    (4, []),
])
def test_tracks_seen_in_fewer_than_min_frames_are_dropped(min_frames: int, expected_tracks: list[int]
                                                          ) -> None:
    # track 1 in 3 frames, track 2 in 2, track 3 in 1
    frames = [(0.0, [Sighting(1, BOX), Sighting(2, BOX), Sighting(3, BOX)]),
              (0.2, [Sighting(1, BOX), Sighting(2, BOX)]),
              (0.4, [Sighting(1, BOX)])]
    _, observations = feed(ObservationBuilder(RecordingLocator(), min_frames=min_frames), frames)
    assert [o.track_id for o in observations] == expected_tracks


def test_a_track_unseen_for_longer_than_finish_after_s_is_finished_at_that_frame() -> None:
    frames: list[tuple[float, Sequence[Sighting]]] = [(0.0, [Sighting(1, BOX)]), (0.5, [Sighting(1, BOX)])]
    frames += [(t, [Sighting(2, BOX)]) for t in (1.0, 3.0, 5.5, 5.6, 7.0)]
    finished, at_end = feed(ObservationBuilder(RecordingLocator(), finish_after_s=5.0), frames)
    # 5.5 - 0.5 is not more than 5 s; 5.6 - 0.5 is.
    assert [(i, [o.track_id for o in obs]) for i, obs in finished if obs] == [(5, [1])]
    assert [o.track_id for o in at_end] == [2]
    assert [p.pts_s for p in finished[5][1][0].points] == [0.0, 0.5]


@pytest.mark.parametrize(("labels", "expected"), [
    pytest.param([("car", 0.5), ("car", 0.5), ("truck", 0.6)], "car", id="majority"),
    pytest.param([("car", 0.9), ("truck", 0.3), ("truck", 0.3)], "car", id="confidence-weighted"),
    pytest.param([("bus", 0.4), ("truck", 0.9), ("bus", 0.4), ("truck", 0.2)], "truck",
                 id="sum-of-confidence"),
    pytest.param([("truck", 0.5), ("car", 0.5)], "truck", id="tie-goes-to-the-first-seen"),
])
def test_the_class_is_voted_by_summed_confidence(labels: list[tuple[str, float]], expected: str) -> None:
    frames = [(i * 0.2, [Sighting(7, BOX, conf, name)]) for i, (name, conf) in enumerate(labels)]
    _, (observation,) = feed(ObservationBuilder(RecordingLocator()), frames)
    assert observation.class_name == expected
    assert observation.confidence == pytest.approx(max(conf for _, conf in labels))


def test_the_best_sighting_is_the_evidence_and_is_located() -> None:
    cut = (0.0, 10.0, 80.0, 90.0)             # big but cut by the left edge
    small = (120.0, 40.0, 140.0, 60.0)
    best = (60.0, 10.0, 140.0, 90.0)          # as big, uncut
    frames = [(0.0, [Sighting(4, small)]), (0.3, [Sighting(4, cut)]), (0.6, [Sighting(4, best)]),
              (0.9, [Sighting(4, small, 0.95)])]
    locator = RecordingLocator()
    _, (observation,) = feed(ObservationBuilder(locator), frames)

    assert observation.best.frame_index == 2 and observation.best.xyxy == best
    assert [p.frame_index for p in observation.points] == [0, 1, 2, 3]
    assert locator.calls == [(observation.best, WIDTH, HEIGHT)]
    # the locator sees every sighting of the track (multi-view) and the voted class
    assert locator.tracks == [(observation.points, observation.class_name)]
    assert observation.location == Location(LocationStatus.CAMERA, 31.0, 121.0)
    assert observation.time_utc == 1_700_000_000.0 + 0.6
    best_image = make_frame(2, 0.6).image
    assert observation.frame.sha256 == encode_jpeg(best_image).sha256
    assert observation.crop.sha256 == encode_jpeg(crop_with_margin(best_image, best)).sha256
    assert (observation.frame.width, observation.frame.height) == (WIDTH, HEIGHT)


def test_frames_without_tracked_detections_add_nothing() -> None:
    frames: list[tuple[float, Sequence[Sighting]]] = [(0.0, []), (0.2, []), (0.4, [])]
    finished, at_end = feed(ObservationBuilder(RecordingLocator(), min_frames=1), frames)
    assert all(not obs for _, obs in finished) and at_end == []
