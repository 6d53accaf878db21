"""Evaluate a detector on a YOLO-format dataset: the per-class table anyone can reproduce.

``streetwatch eval MODEL DATA.yaml`` runs Ultralytics' validator (COCO-style matching,
IoU 0.5 and 0.5:0.95) on the dataset's ``val`` split and prints, per class: images,
instances, precision, recall, mAP50 and mAP50-95.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    name: str
    images: int
    instances: int
    precision: float
    recall: float
    map50: float
    map50_95: float


def evaluate(weights: Path, data_yaml: Path, *, imgsz: int = 640, split: str = "val", device: str = "cpu",
             batch: int = 16, conf: float = 0.001) -> list[ClassMetrics]:
    """Validate ``weights`` on ``data_yaml``'s ``split``; one row per class with labels, then 'all'."""
    from ultralytics import YOLO

    for path in (weights, data_yaml):
        if not path.exists():
            raise FileNotFoundError(f"not found: {path}")
    model = YOLO(str(weights), task="detect")
    metrics = model.val(data=str(data_yaml), imgsz=imgsz, split=split, device=device, batch=batch, conf=conf,
                        plots=False, verbose=False, save_json=False, project=None)
    box = metrics.box
    names = metrics.names
    images = getattr(metrics, "nt_per_image", None)
    instances = getattr(metrics, "nt_per_class", None)
    rows = []
    for i, class_index in enumerate(box.ap_class_index):
        class_index = int(class_index)
        rows.append(ClassMetrics(
            name=str(names[class_index]),
            images=int(images[class_index]) if images is not None else 0,
            instances=int(instances[class_index]) if instances is not None else 0,
            precision=float(box.p[i]), recall=float(box.r[i]),
            map50=float(box.ap50[i]), map50_95=float(box.ap[i])))
    rows.append(ClassMetrics("all", count_images(data_yaml, split), sum(r.instances for r in rows),
                             float(box.mp), float(box.mr), float(box.map50), float(box.map)))
    return rows


def count_images(data_yaml: Path, split: str) -> int:
    """Number of images in a YOLO dataset split (a folder of images, as our recipes write)."""
    import yaml

    spec = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    root = Path(spec.get("path") or data_yaml.parent)
    if not root.is_absolute():
        root = data_yaml.parent / root
    folder = root / str(spec[split])
    suffixes = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
    return sum(1 for p in folder.rglob("*") if p.suffix.lower() in suffixes) if folder.is_dir() else 0
