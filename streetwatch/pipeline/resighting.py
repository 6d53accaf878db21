"""One observation per still object that the tracker lost and found again in an unchanged view.

A detection near the confidence threshold flickers: a garbage pile seen by a fixed camera for 20 s can
drop out for longer than the tracker keeps a lost track, and come back under a new track id. Without
GPS nothing else ties the two tracks together, and each would become its own review item. Two
observations of a video are the same object, and are merged, when all of these hold:

- the class is one that does not move by itself (not a vehicle, not a person);
- one was last seen before the other was first seen (a re-sighting, not two objects side by side);
- their best boxes overlap (IoU at least :data:`SAME_PLACE_IOU`);
- the two evidence frames show the same view (:func:`streetwatch.vision.views.same_view`): a moving
  camera sees a different street, so the same box position there is a different place.

The merged observation keeps every sighting of both, the better evidence (frame, crop and location
of the sighting with the higher evidence score) and the higher confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from streetwatch.core.types import Observation
from streetwatch.pipeline.observe import evidence_score
from streetwatch.vision.geometry import box_iou
from streetwatch.vision.views import same_view, thumbnail

SAME_PLACE_IOU: Final = 0.5


def merge_resightings(observations: Sequence[Observation], moves_by_itself: Callable[[str], bool]
                      ) -> list[Observation]:
    """``observations`` (one video's) with each still object's re-sightings merged into its earliest
    observation, which keeps its place in the list; the rest unchanged, in their order."""
    kept: dict[int, Observation] = {}                       # index in ``observations`` -> (merged) observation
    views: dict[int, npt.NDArray[np.uint8]] = {}            # of the kept still objects
    for index in sorted(range(len(observations)), key=lambda i: observations[i].pts_start_s):
        observation = observations[index]
        view = None if moves_by_itself(observation.class_name) else _view_of(observation)
        match = None if view is None else next(
            (i for i, seen in views.items()
             if kept[i].class_name == observation.class_name and kept[i].pts_end_s < observation.pts_start_s
             and box_iou(kept[i].best.xyxy, observation.best.xyxy) >= SAME_PLACE_IOU and same_view(seen, view)),
            None)
        if match is not None:
            kept[match] = _merged(kept[match], observation)
            continue
        kept[index] = observation
        if view is not None:
            views[index] = view
    return [kept[i] for i in sorted(kept)]


def _view_of(observation: Observation) -> npt.NDArray[np.uint8] | None:
    """The thumbnail of the observation's evidence frame (decoded at an eighth of its size), or None."""
    image = cv2.imdecode(np.frombuffer(observation.frame.data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    return None if image is None else thumbnail(np.asarray(image, dtype=np.uint8))


def _merged(first: Observation, again: Observation) -> Observation:
    """``first`` with ``again``'s sightings added, and its evidence if that is the better."""
    def score(o: Observation) -> float:
        return evidence_score(o.best.xyxy, o.best.confidence, o.frame.width, o.frame.height)

    base = again if score(again) > score(first) else first
    points = tuple(sorted((*first.points, *again.points), key=lambda p: (p.pts_s, p.frame_index)))
    return replace(base, track_id=first.track_id, points=points, confidence=max(first.confidence, again.confidence),
                   attributes={**again.attributes, **first.attributes,
                               "merged_tracks": f"{first.track_id},{again.track_id}"})
