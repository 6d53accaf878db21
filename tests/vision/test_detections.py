"""The pipeline's own detections type behaves as supervision's does where the pipeline uses it."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from streetwatch.vision.detections import Detections


def three() -> Detections:
    return Detections(xyxy=np.array([[0, 0, 10, 10], [5, 5, 20, 30], [100, 50, 140, 90]], dtype=np.float64),
                      confidence=np.array([0.9, 0.4, 0.7], np.float32), class_id=np.array([2, 0, 2]),
                      data={"class_name": np.array(["car", "person", "car"])})


def test_indexing_by_mask_positions_and_slices_keeps_every_field_aligned() -> None:
    found = three()
    cars = found[found.class_id == 2]  # type: ignore[operator]
    assert len(cars) == 2
    assert cars.xyxy.tolist() == [[0, 0, 10, 10], [100, 50, 140, 90]]
    assert cars.confidence is not None and cars.confidence.tolist() == pytest.approx([0.9, 0.7])
    assert cars.class_names().tolist() == ["car", "car"]
    picked = found[np.array([2, 0])]
    assert picked.class_names().tolist() == ["car", "car"]
    assert picked.xyxy[0].tolist() == [100, 50, 140, 90]
    one = found[1]
    assert isinstance(one, Detections) and one.class_names().tolist() == ["person"]
    assert len(found[1:]) == 2
    assert found.xyxy.dtype == np.float32


def test_a_field_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="confidence has 2 rows for 3 boxes"):
        Detections(xyxy=np.zeros((3, 4)), confidence=np.ones(2))
    with pytest.raises(ValueError, match="class_name has 1 rows"):
        Detections(xyxy=np.zeros((3, 4)), data={"class_name": np.array(["car"])})


def test_empty_and_default_class_names() -> None:
    empty = Detections.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)
    assert empty[np.zeros(0, bool)].xyxy.shape == (0, 4)
    unnamed = Detections(xyxy=np.zeros((2, 4)))
    assert unnamed.class_names("object").tolist() == ["object", "object"]


def test_round_trip_through_supervision() -> None:
    found = three()
    found.tracker_id = np.array([7, 8, 9])
    theirs = found.to_supervision()
    assert isinstance(theirs, sv.Detections)
    assert theirs.tracker_id is not None and theirs.tracker_id.tolist() == [7, 8, 9]
    back = Detections.from_supervision(theirs)
    assert back.xyxy.tolist() == found.xyxy.tolist()
    assert back.class_names().tolist() == ["car", "person", "car"]
    assert back.class_id is not None and back.class_id.tolist() == [2, 0, 2]


def test_pickles_for_the_fleet_actors() -> None:
    """Ray hands detections from a detector actor to the videos' tasks by pickling them."""
    import pickle

    back = pickle.loads(pickle.dumps(three()))
    assert back.xyxy.tolist() == three().xyxy.tolist() and back.class_names().tolist() == ["car", "person", "car"]
