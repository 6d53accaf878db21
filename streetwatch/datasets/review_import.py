"""``streetwatch dataset import``: a labelled set made elsewhere (CVAT, Label Studio), in our YOLO layout.

Read with supervision (``DetectionDataset.from_yolo`` / ``from_coco`` / ``from_pascal_voc``); each class
name is looked up in the taxonomy by name or alias (``dining table`` is ``dining_table``, ``signboard``
is ``shop_sign``) and written with the dataset's class id. A class the taxonomy does not know is an
error naming the class and the annotation file that uses it: add it as an alias in the taxonomy, or
relabel it at the source. Classes a source lists but never uses are ignored.

Where the files are looked for in SRC:

- yolo: ``data.yaml`` (or another ``*.yaml`` with ``names``, or ``classes.txt`` / ``obj.names``);
  ``images/`` and ``labels/`` (each may hold split folders, e.g. ``train/``), or images and ``.txt``
  side by side in SRC or in ``obj_*_data/`` (CVAT's YOLO 1.1).
- coco: every ``*.json`` in ``annotations/`` or in SRC itself; images under ``images/`` (or SRC, when
  the files' ``file_name`` starts from there).
- voc: ``Annotations/`` and ``JPEGImages/`` (or ``annotations/`` and ``images/``).

Images are renamed by the sha256 of their bytes (identical images are kept once) and copied unchanged;
splits are by that hash (an outside set says nothing of which video a picture came from). The
manifest records each image's source and the licence the importer gives.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import supervision as sv
import yaml

from streetwatch.core.taxonomy import Taxonomy
from streetwatch.datasets.yolo_layout import (
    SPLITS,
    DatasetClasses,
    DatasetError,
    ManifestRow,
    Split,
    assign_splits,
    detections,
    prepare_out,
    write_data_yaml,
    write_manifest,
    write_split,
)

ImportFormat = Literal["yolo", "coco", "voc"]
FORMATS: tuple[str, ...] = get_args(ImportFormat)
_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True, slots=True)
class _Part:
    """One loaded piece of a source, and the annotation file each of its images' labels come from."""

    dataset: sv.DetectionDataset
    annotation_file: Callable[[str], Path]


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import wrote."""

    out: Path
    images: dict[Split, int]
    boxes: dict[Split, int]
    duplicates: int
    classes: dict[str, int]  # boxes per dataset class


def import_labelled(
    src: Path, fmt: str, out: Path, *, taxonomy: Taxonomy, classes: DatasetClasses, val_share: float,
    licence: str = "",
) -> ImportSummary:
    """Read the labelled set at ``src`` in format ``fmt`` and write it to ``out`` (a new or empty folder).

    Raises:
        DatasetError: An unknown format, a source without the expected files, an annotation file
            supervision cannot read, a class the taxonomy does not know, ``out`` not empty.
    """
    if fmt not in FORMATS:
        raise DatasetError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if not src.is_dir():
        raise DatasetError(f"{src} is not a folder")
    with tempfile.TemporaryDirectory(prefix="streetwatch-import-") as scratch:
        parts = list(_load(src, fmt, Path(scratch)))
        staged: dict[str, tuple[Path, sv.Detections, list[str]]] = {}  # sha256 -> (link, boxes, class names)
        duplicates = 0
        for part in parts:
            for image_path, _, found in part.dataset:
                names = [_canonical(taxonomy, part.dataset.classes[int(c)], part.annotation_file(image_path))
                         for c in (found.class_id if found.class_id is not None else np.empty(0, dtype=int))]
                sha = hashlib.sha256(Path(image_path).read_bytes()).hexdigest()
                if sha in staged:
                    duplicates += 1
                    continue
                link = Path(scratch) / "staged" / f"{sha}{Path(image_path).suffix.lower()}"
                link.parent.mkdir(exist_ok=True)
                os.symlink(Path(image_path).resolve(), link)
                ids = [classes.index(n, str(part.annotation_file(image_path))) for n in names]
                staged[sha] = (link, detections(found.xyxy, ids), names)
        splits = assign_splits(staged, val_share)
        by_split: dict[Split, dict[str, sv.Detections]] = {s: {} for s in SPLITS}
        rows: list[ManifestRow] = []
        for sha, (link, found, names) in staged.items():
            split = splits[sha]
            by_split[split][str(link)] = found
            rows.append(ManifestRow(image=f"images/{split}/{link.name}", split=split, evidence_sha256=sha,
                                    video_sha256="", frame_pts_s="", frame_time_utc="", boxes=len(names),
                                    classes=" ".join(names), label_ids="", model_names="",
                                    source=f"{src} ({fmt})", licence=licence))
        prepare_out(out)
        for split in SPLITS:
            write_split(out, split, classes, by_split[split])
    write_data_yaml(out, classes, source=f"imported from {src} ({fmt})", licence=licence or "not stated",
                    manifest="manifest.csv")
    write_manifest(out, rows)
    counts: dict[str, int] = {}
    for row in rows:
        for name in row.classes.split():
            counts[name] = counts.get(name, 0) + 1
    return ImportSummary(out, {s: len(by_split[s]) for s in SPLITS},
                         {s: sum(len(d) for d in by_split[s].values()) for s in SPLITS}, duplicates, counts)


def _canonical(taxonomy: Taxonomy, name: str, annotation_file: Path) -> str:
    spec = taxonomy.lookup(name)
    if spec is None:
        raise DatasetError(f"{annotation_file}: class {name!r} is not in the taxonomy, by name or alias; add it as "
                           "an alias of one of its classes in taxonomy.yaml, or relabel it at the source")
    return spec.name


def _load(src: Path, fmt: str, scratch: Path) -> Iterator[_Part]:
    try:
        if fmt == "yolo":
            yield from _load_yolo(src, scratch)
        elif fmt == "coco":
            yield from _load_coco(src)
        else:
            yield from _load_voc(src)
    except (ValueError, KeyError, OSError) as exc:  # supervision's own errors name the file
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{src} could not be read as {fmt}: {type(exc).__name__}: {exc}") from None


def _beside(folder: Path, suffix: str, image_path: str) -> Path:
    """The annotation file of an image: its stem with ``suffix`` in ``folder``."""
    return folder / f"{Path(image_path).stem}{suffix}"


def _the_file(annotation_file: Path, _image_path: str) -> Path:
    return annotation_file


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() in _IMAGE_SUFFIXES for p in folder.iterdir())


def _load_yolo(src: Path, scratch: Path) -> Iterator[_Part]:
    data_yaml = _yolo_names(src, scratch)
    if (src / "images").is_dir():
        subsets = sorted(d for d in (src / "images").iterdir() if d.is_dir())
        pairs = [(d, src / "labels" / d.name) for d in subsets] or [(src / "images", src / "labels")]
    else:
        pairs = [(d, d) for d in [src, *sorted(src.glob("obj_*_data"))]]
    pairs = [(images, labels) for images, labels in pairs if _has_images(images)]
    if not pairs:
        raise DatasetError(f"{src}: no images found (looked in images/, images/*/, obj_*_data/ and {src} itself)")
    for images, labels in pairs:
        dataset = sv.DetectionDataset.from_yolo(str(images), str(labels), str(data_yaml))
        yield _Part(dataset, partial(_beside, labels, ".txt"))


def _yolo_names(src: Path, scratch: Path) -> Path:
    """The data.yaml to read class names from; Label Studio's classes.txt and CVAT's obj.names are turned into one."""
    for candidate in [src / "data.yaml", src / "dataset.yaml", *sorted(src.glob("*.yaml"))]:
        if candidate.is_file() and "names" in (yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}):
            return candidate
    for listing in (src / "classes.txt", src / "obj.names"):
        if listing.is_file():
            names = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
            made = scratch / "names.yaml"
            made.write_text(yaml.safe_dump({"names": names}, allow_unicode=True), encoding="utf-8")
            return made
    raise DatasetError(f"{src}: no class names found (data.yaml with 'names', classes.txt or obj.names)")


def _load_coco(src: Path) -> Iterator[_Part]:
    files = sorted((src / "annotations").glob("*.json")) or sorted(src.glob("*.json"))
    if not files:
        raise DatasetError(f"{src}: no COCO annotation file (*.json in annotations/ or {src})")
    for json_path in files:
        images = src / "images" if (src / "images").is_dir() else src
        listed = json.loads(json_path.read_text(encoding="utf-8")).get("images") or []
        if listed and not (images / listed[0]["file_name"]).is_file() and (src / listed[0]["file_name"]).is_file():
            images = src  # Label Studio writes file_name as "images/<name>"
        dataset = sv.DetectionDataset.from_coco(str(images), str(json_path))
        yield _Part(dataset, partial(_the_file, json_path))


def _load_voc(src: Path) -> Iterator[_Part]:
    annotations = next((src / name for name in ("Annotations", "annotations") if (src / name).is_dir()), None)
    images = next((src / name for name in ("JPEGImages", "images") if (src / name).is_dir()), None)
    if annotations is None or images is None:
        raise DatasetError(f"{src}: a Pascal VOC set has Annotations/ and JPEGImages/ (or annotations/ and images/)")
    dataset = sv.DetectionDataset.from_pascal_voc(str(images), str(annotations))
    yield _Part(dataset, partial(_beside, annotations, ".xml"))
