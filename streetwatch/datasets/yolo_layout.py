"""Our YOLO dataset layout, shared by ``dataset export`` (labels from review) and ``dataset import`` (from elsewhere).

::

    OUT/
      images/train/*.jpg   images/val/*.jpg
      labels/train/*.txt   labels/val/*.txt     YOLO: "class cx cy w h" per box, normalised; empty: nothing here
      data.yaml            path, train, val, nc, names, and where the class order comes from
      manifest.csv         one row per image: where it came from and which label records made it

Images and label files are written by supervision (``DetectionDataset.as_yolo``); this module only
decides the class order, the splits, and writes ``data.yaml`` and the manifest.

Class order: the current detector's classes first, in its order (its model card's ``classes``, so a
fine-tune of it keeps its class ids), then the taxonomy's other classes in file order (a reviewer may
label any class of the taxonomy). Without a model card, the taxonomy's order alone.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import supervision as sv
import yaml

from streetwatch.core.errors import BadInputError
from streetwatch.core.taxonomy import Taxonomy

Split = Literal["train", "val"]
SPLITS: Final[tuple[Split, ...]] = ("train", "val")
MODEL_CARD: Final = "model.yaml"


class DatasetError(BadInputError, ValueError):
    """A dataset cannot be written or read as asked: the message says which file or class and why."""


@dataclass(frozen=True, slots=True)
class DatasetClasses:
    """The class list of a dataset (index = YOLO class id) and, in words, where its order comes from."""

    names: tuple[str, ...]
    order: str

    def index(self, class_name: str, where: str) -> int:
        """The class id of ``class_name``.

        Raises:
            DatasetError: The class is not in the list (``where`` says which record or file had it).
        """
        try:
            return self.names.index(class_name)
        except ValueError:
            raise DatasetError(f"{where}: class {class_name!r} is not one of the dataset's classes "
                               f"({', '.join(self.names)})") from None


def dataset_classes(taxonomy: Taxonomy, model_path: Path | None) -> DatasetClasses:
    """The class order: the model card's classes (beside ``model_path``), then the taxonomy's others.

    Raises:
        DatasetError: The model card names a class the taxonomy does not know.
    """
    card = None if model_path is None else model_path.parent / MODEL_CARD
    raw: dict[str, Any] = {}
    if card is not None and card.is_file():
        raw = yaml.safe_load(card.read_text(encoding="utf-8")) or {}
    model_names: list[str] = []
    by_id = raw.get("classes") or {}
    for class_id in sorted(by_id, key=int):
        spec = taxonomy.lookup(str(by_id[class_id]))
        if spec is None:
            raise DatasetError(f"{card}: class {by_id[class_id]!r} is not in the taxonomy")
        model_names.append(spec.name)
    rest = [name for name in taxonomy.classes if name not in model_names]
    if not model_names:
        return DatasetClasses(tuple(rest), "the taxonomy's classes in file order (no model card found)")
    model = str(raw.get("name") or card)
    order = (f"classes 0-{len(model_names) - 1} are the detector {model}'s, in its order (its model card); "
             f"{len(model_names)}-{len(model_names) + len(rest) - 1} are the taxonomy's other classes in file order"
             if rest else f"the detector {model}'s classes, in its order (its model card)")
    return DatasetClasses(tuple(model_names + rest), order)


def split_score(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` (a video's sha256): the same video always scores the same."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:12], 16) / float(16 ** 12)


def assign_splits(keys: Iterable[str], val_share: float) -> dict[str, Split]:
    """Put each group (a video) in train or val, deterministically by its hash.

    A group scoring below ``val_share`` goes to val, so a video stays in its split when more are
    added. Should that leave val empty with two or more groups, the lowest-scoring one goes there.

    Raises:
        DatasetError: ``val_share`` outside [0, 1).
    """
    if not 0.0 <= val_share < 1.0:
        raise DatasetError(f"--val-share must be within [0, 1), got {val_share}")
    unique = sorted(set(keys))
    splits: dict[str, Split] = {k: "val" if split_score(k) < val_share else "train" for k in unique}
    if val_share > 0 and len(unique) >= 2 and "val" not in splits.values():
        splits[min(unique, key=split_score)] = "val"
    return splits


def detections(boxes: Sequence[Sequence[float]] | npt.NDArray[Any], class_ids: Sequence[int]
               ) -> sv.Detections:
    """Boxes (x1, y1, x2, y2 in pixels) and class ids as supervision's columnar detections; none: an empty set."""
    if len(boxes) == 0:
        return sv.Detections(xyxy=np.empty((0, 4), dtype=np.float32), class_id=np.empty(0, dtype=int))
    return sv.Detections(xyxy=np.asarray(boxes, dtype=np.float32), class_id=np.asarray(class_ids, dtype=int))


def prepare_out(out: Path) -> None:
    """Create ``out``, refusing one that already holds files (a dataset is written whole, never merged into).

    Raises:
        DatasetError: ``out`` is a file, or a folder that is not empty.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} exists and is not an empty folder: choose a new --out")
    out.mkdir(parents=True, exist_ok=True)


def write_split(out: Path, split: Split, classes: DatasetClasses, images: Mapping[str, sv.Detections]) -> None:
    """Write one split's images (copied, bytes unchanged) and YOLO label files with supervision."""
    dataset = sv.DetectionDataset(classes=list(classes.names), images=list(images), annotations=dict(images))
    dataset.as_yolo(images_directory_path=str(out / "images" / split),
                    annotations_directory_path=str(out / "labels" / split))


def write_data_yaml(out: Path, classes: DatasetClasses, **about: Any) -> Path:
    """``data.yaml`` for Ultralytics: the folders, the classes, and ``about`` (where the data came from)."""
    data = {"path": str(out.resolve()), "train": "images/train", "val": "images/val", "nc": len(classes.names),
            "names": dict(enumerate(classes.names)), "class_order": classes.order, **about}
    path = out / "data.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """Where one image of a dataset came from (a row of ``manifest.csv``).

    Attributes:
        image: Its path inside the dataset folder.
        split: train or val.
        evidence_sha256: The sha256 of the image's bytes (for a reviewed frame, its evidence hash).
        video_sha256: The video it is a frame of ("" when unknown: imported sets).
        frame_pts_s: Its presentation time in that video, seconds ("" when unknown).
        frame_time_utc: Its UTC time, ISO 8601 ("" when unknown).
        boxes: How many boxes its label file holds (0: nothing here).
        classes: Their classes, space-separated.
        label_ids: The review label records that made its labels, space-separated ("" for imports).
        model_names: The detectors whose output was reviewed on it.
        source: "review", or where an imported set came from (folder and format).
        licence: The licence or provenance of imported data, as the importer stated it.
    """

    image: str
    split: Split
    evidence_sha256: str
    video_sha256: str
    frame_pts_s: str
    frame_time_utc: str
    boxes: int
    classes: str
    label_ids: str
    model_names: str
    source: str
    licence: str


def write_manifest(out: Path, rows: Sequence[ManifestRow]) -> Path:
    """``manifest.csv``: one row per image, in the order given, with a header row."""
    path = out / "manifest.csv"
    names = [f.name for f in fields(ManifestRow)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in rows:
            writer.writerow(getattr(row, name) for name in names)
    return path
