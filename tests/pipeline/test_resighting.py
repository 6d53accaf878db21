"""A still object that the tracker lost and found again in the same view is one observation; a
re-sighting in another view, of something that moves by itself, or beside it at the same time, is not."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from streetwatch.core.types import Location, Observation, TrackPoint
from streetwatch.core.vocab import LocationStatus
from streetwatch.pipeline.resighting import merge_resightings
from streetwatch.store.evidence import encode_jpeg
from streetwatch.vision.views import same_view, thumbnail

PILE = (400.0, 300.0, 520.0, 380.0)


def street(seed: int) -> npt.NDArray[np.uint8]:
    """A 960x540 view: blocks of grey and colour where a street would have walls, cars and shop fronts."""
    rng = np.random.default_rng(seed)
    image = np.full((540, 960, 3), 120, np.uint8)
    for _ in range(40):
        x, y = int(rng.integers(0, 900)), int(rng.integers(0, 500))
        w, h = int(rng.integers(20, 200)), int(rng.integers(20, 120))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, -1)
    return image


def seen(track_id: int, class_name: str, times: list[float], view: npt.NDArray[np.uint8],
         box: tuple[float, float, float, float] = PILE, confidence: float = 0.4) -> Observation:
    points = tuple(TrackPoint(round(t * 5), t, box, confidence) for t in times)
    # sensor noise: the same view is never the same pixels twice
    noisy = np.clip(view.astype(np.int16) + np.random.default_rng(track_id).integers(-4, 5, view.shape), 0, 255)
    frame = encode_jpeg(noisy.astype(np.uint8))
    return Observation(track_id=track_id, class_name=class_name, confidence=confidence, points=points,
                       best=points[len(points) // 2], time_utc=None, location=Location(LocationStatus.UNKNOWN),
                       frame=frame, crop=frame, attributes={"note": str(track_id)})


def moves(class_name: str) -> bool:
    return class_name in {"car", "person"}


def test_a_still_pile_found_again_in_the_same_view_is_one_observation() -> None:
    view = street(1)
    first = seen(1, "garbage_pile", [0.4, 0.6, 0.8], view)
    again = seen(28, "garbage_pile", [19.0, 19.2], view, box=(404.0, 302.0, 526.0, 384.0), confidence=0.45)
    car = seen(5, "car", [3.0, 3.2], view, box=(100.0, 300.0, 300.0, 420.0))
    (pile, other) = merge_resightings([first, car, again], moves)
    assert other is car
    assert pile.track_id == 1 and pile.class_name == "garbage_pile"
    assert [p.pts_s for p in pile.points] == [0.4, 0.6, 0.8, 19.0, 19.2]
    assert pile.confidence == 0.45 and pile.best == again.best and pile.frame == again.frame   # the better evidence
    assert pile.attributes == {"note": "1", "merged_tracks": "1,28"}


def test_more_than_two_sightings_merge_into_the_first() -> None:
    view = street(2)
    parts = [seen(i, "trash_bag", [10.0 * i, 10.0 * i + 0.2], view) for i in (3, 1, 2)]
    (bag,) = merge_resightings(parts, moves)
    assert bag.track_id == 1 and [p.pts_s for p in bag.points] == [10.0, 10.2, 20.0, 20.2, 30.0, 30.2]


@pytest.mark.parametrize("case", ["another view", "moves by itself", "another class", "another place",
                                  "at the same time"])
def test_what_is_not_a_resighting(case: str) -> None:
    view = street(3)
    first = seen(1, "car" if case == "moves by itself" else "garbage_pile", [0.0, 0.2], view)
    second = seen(2, {"moves by itself": "car", "another class": "trash_bag"}.get(case, "garbage_pile"),
                  [0.2, 0.4] if case == "at the same time" else [9.0, 9.2],
                  street(4) if case == "another view" else view,
                  box=(700.0, 300.0, 820.0, 380.0) if case == "another place" else PILE)
    assert merge_resightings([first, second], moves) == [first, second]


def test_a_camera_that_moved_on_is_another_view_and_the_same_view_with_noise_is_not() -> None:
    view = street(5)
    noise = np.random.default_rng(0).integers(-4, 5, view.shape)
    assert same_view(thumbnail(view), thumbnail(np.clip(view + noise, 0, 255).astype(np.uint8)))
    assert not same_view(thumbnail(view), thumbnail(np.roll(view, 120, axis=1)))
