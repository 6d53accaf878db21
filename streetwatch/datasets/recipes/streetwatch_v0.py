"""Recipe for the default detector's training set, built from ``../shared/data``.

Sources (see ``../shared/data/INVENTORY.md``; nothing is copied into the repository):

* ``facades_ads``: street-level facade photos with human labels. Their ``signboard``,
  ``cantilever`` and ``win_ad`` boxes become ``shop_sign``, ``projecting_sign`` and
  ``window_ad``; windows, arches and doors are dropped.
* The COCO base model's own confident detections (``--pseudo-conf``) of the evidence
  classes (vehicles, people, umbrellas, tables, chairs, benches) on the facade photos, the
  Amsterdam street photos and Ultralytics' two bundled photos. There are no COCO images
  here to replay, so these pseudo-labels are what keeps the fine-tuned model knowing what
  the base knew.

Every image is assigned to ``train`` or ``val`` by a hash of its file name (stable across
runs and machines); ``val`` is never trained on. Images are resized to ``--max-side``.

Usage::

    python -m streetwatch.datasets.recipes.streetwatch_v0 --shared ../shared/data \\
        --base var/base/yolov8n-coco.pt --out var/datasets/streetwatch-v0
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

os.environ.setdefault("YOLO_OFFLINE", "1")

# Our class list, in the order the default model predicts them.
CLASSES: list[str] = [
    "person", "bicycle", "car", "motorcycle", "bus", "truck", "bench", "umbrella", "dining_table", "chair",
    "shop_sign", "projecting_sign", "window_ad",
]
# Our name -> the COCO base's name, for the classes the base already knows.
FROM_COCO: dict[str, str] = {name: name.replace("_", " ") for name in CLASSES[:10]}
# Facade dataset class id -> our name (ids 0 window, 2 arch, 5 door are not ours).
FROM_FACADES: dict[int, str] = {1: "projecting_sign", 3: "shop_sign", 4: "window_ad"}


@dataclass(frozen=True, slots=True)
class Source:
    image: Path
    human_labels: Path | None   # YOLO txt with facade class ids, or None
    group: str                  # facades | amsterdam | ultralytics


def split_of(name: str, val_fraction: float) -> str:
    """'val' for a stable ``val_fraction`` of names, 'train' for the rest."""
    digest = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    return "val" if digest / 0xFFFFFFFF < val_fraction else "train"


def find_sources(shared: Path) -> list[Source]:
    facades = shared / "facades_ads"
    sources = [Source(p, facades / "labels" / "train" / f"{p.stem}.txt", "facades")
               for p in sorted((facades / "images" / "train").glob("*.jpg"))]
    sources += [Source(p, None, "amsterdam") for p in sorted((shared / "amsterdam_garbage" / "images").glob("*.jpg"))]
    from ultralytics.utils import ASSETS

    sources += [Source(Path(ASSETS) / name, None, "ultralytics") for name in ("bus.jpg", "zidane.jpg")]
    if not sources:
        raise FileNotFoundError(f"no images found under {shared}")
    return sources


def read_facade_labels(path: Path | None) -> list[tuple[int, float, float, float, float]]:
    if path is None or not path.exists():
        return []
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 5:
            raise ValueError(f"{path}:{line_no}: expected 5 values (class cx cy w h), got {len(parts)}")
        cls = int(parts[0])
        if cls in FROM_FACADES:
            cx, cy, w, h = (float(v) for v in parts[1:])
            rows.append((CLASSES.index(FROM_FACADES[cls]), cx, cy, w, h))
    return rows


def resize_to(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def pseudo_labels(model: object, images: list[np.ndarray], conf: float
                  ) -> Iterable[list[tuple[int, float, float, float, float]]]:
    coco_to_ours = {coco: CLASSES.index(ours) for ours, coco in FROM_COCO.items()}
    results = model.predict(images, imgsz=640, conf=conf, verbose=False, device="cpu")  # type: ignore[attr-defined]
    for result in results:
        rows = []
        names = result.names
        for cls, xywhn in zip(result.boxes.cls.tolist(), result.boxes.xywhn.tolist(), strict=True):
            ours = coco_to_ours.get(names[int(cls)])
            if ours is not None:
                rows.append((ours, *xywhn))
        yield rows


def build(shared: Path, base: Path, out: Path, *, val_fraction: float = 0.15, max_side: int = 640,
          pseudo_conf: float = 0.5, batch: int = 16) -> Path:
    """Write the dataset under ``out`` and return its ``data.yaml``."""
    from ultralytics import YOLO

    model = YOLO(str(base), task="detect")
    sources = find_sources(shared)
    counts: Counter[tuple[str, str]] = Counter()
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for start in tqdm(range(0, len(sources), batch), desc="pseudo-labelling", unit="batch"):
        chunk = sources[start:start + batch]
        images = []
        for source in chunk:
            image = cv2.imread(str(source.image))
            if image is None:
                raise ValueError(f"cannot read image {source.image}")
            images.append(resize_to(image, max_side))
        for source, image, machine_rows in zip(chunk, images, pseudo_labels(model, images, pseudo_conf),
                                                strict=True):
            name = f"{source.group}_{source.image.stem}"
            split = split_of(name, val_fraction)
            rows = read_facade_labels(source.human_labels) + machine_rows
            cv2.imwrite(str(out / "images" / split / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            (out / "labels" / split / f"{name}.txt").write_text(
                "".join(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in rows))
            counts[(split, "images")] += 1
            for c, *_ in rows:
                counts[(split, CLASSES[c])] += 1
    data_yaml = out / "data.yaml"
    data_yaml.write_text(yaml.safe_dump({
        "path": str(out.resolve()), "train": "images/train", "val": "images/val",
        "names": dict(enumerate(CLASSES)),
    }, sort_keys=False, allow_unicode=True))
    (out / "counts.yaml").write_text(yaml.safe_dump({f"{s}/{k}": v for (s, k), v in sorted(counts.items())}))
    return data_yaml


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--base", type=Path, required=True, help="COCO base checkpoint (models import-tflite)")
    parser.add_argument("--out", type=Path, default=Path("var/datasets/streetwatch-v0"))
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--pseudo-conf", type=float, default=0.5)
    args = parser.parse_args(argv)
    path = build(args.shared, args.base, args.out, val_fraction=args.val_fraction, max_side=args.max_side,
                 pseudo_conf=args.pseudo_conf)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
