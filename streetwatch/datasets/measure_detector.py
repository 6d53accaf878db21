"""The model card's measurements of a detector: per-source validation metrics and vehicle agreement.

Why: a fine-tuned detector must show what it learned (the new classes, on validation images
grouped by source, never trained on) and what it kept (the vehicles and people its COCO base
found). The second is the *vehicle agreement*: of the base model's confident detections
(confidence >= 0.5) of car, bus, truck, motorcycle, bicycle and person, the share the candidate
also finds (same class, confidence >= 0.25, IoU >= 0.5), on real street frames it never trained
on. Matching is greedy per image and class, highest base confidence first.

Example (the v1 recipe's folder; see models/streetwatch-v1/model.yaml)::

    python -m streetwatch.datasets.measure_detector models/streetwatch-v1/streetwatch-v1.pt \\
        --base var/base/yolov8n-coco.pt --dataset var/datasets/streetwatch-v1 --imgsz 512 \\
        --out var/runs/measure-v1.yaml
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from streetwatch.datasets.evaluate import ClassMetrics, evaluate

KEPT_CLASSES = ("car", "bus", "truck", "motorcycle", "bicycle", "person")
SOURCES = ("garbage", "woosong", "bins", "facades", "street")
BASE_CONF, CANDIDATE_CONF, MATCH_IOU = 0.5, 0.25, 0.5


@dataclass(frozen=True, slots=True)
class Agreement:
    """How many of the base model's confident detections of one class the candidate also found."""

    name: str
    matched: int
    of: int

    @property
    def recall(self) -> float | None:
        return self.matched / self.of if self.of else None


Boxes = dict[str, list[tuple[float, npt.NDArray[np.float64]]]]   # class -> [(confidence, xyxy)]


def iou(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """Intersection over union of two xyxy boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_counts(base: Boxes, candidate: Boxes, classes: Sequence[str] = KEPT_CLASSES,
                 min_iou: float = MATCH_IOU) -> dict[str, tuple[int, int]]:
    """Per class, (base boxes the candidate matched, base boxes) for one image; greedy, one-to-one."""
    out: dict[str, tuple[int, int]] = {}
    for name in classes:
        wanted = sorted(base.get(name, []), key=lambda cb: -cb[0])
        free = [box for _, box in candidate.get(name, [])]
        matched = 0
        for _, box in wanted:
            scores = [iou(box, other) for other in free]
            if scores and max(scores) >= min_iou:
                free.pop(int(np.argmax(scores)))
                matched += 1
        out[name] = (matched, len(wanted))
    return out


def _predict(model: Any, images: Sequence[Path], imgsz: int, conf: float) -> list[Boxes]:
    """Each image's detections by class name (names normalised: 'dining table' -> 'dining_table')."""
    found: list[Boxes] = []
    names = {int(k): str(v).replace(" ", "_") for k, v in model.names.items()}
    for path in images:
        (result,) = model.predict(str(path), imgsz=imgsz, conf=conf, verbose=False)
        boxes: Boxes = {}
        for xyxy, c, k in zip(result.boxes.xyxy.cpu().numpy(), result.boxes.conf.cpu().numpy(),
                              result.boxes.cls.cpu().numpy(), strict=True):
            boxes.setdefault(names[int(k)], []).append((float(c), np.asarray(xyxy, np.float64)))
        found.append(boxes)
    return found


def _detect(weights: Path, images: Sequence[Path], conf: float) -> list[Boxes]:
    """Each image's detections by class name, through streetwatch's own detector (the backend and input
    size ``process`` uses for these weights: ONNX Runtime for ``.onnx``, Ultralytics for ``.pt``)."""
    import cv2

    from streetwatch.core.settings import get_settings
    from streetwatch.pipeline.run import detector_config
    from streetwatch.vision.detector import build_detector

    detector = build_detector(detector_config(get_settings(model_path=weights, conf_threshold=conf)))
    names = {int(k): str(v).replace(" ", "_") for k, v in detector.names.items()}
    found: list[Boxes] = []
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read image {path}")
        (detections,) = detector.detect([np.asarray(image, np.uint8)])
        boxes: Boxes = {}
        class_ids = detections.class_id if detections.class_id is not None else np.zeros(0, int)
        confidences = detections.confidence if detections.confidence is not None else np.zeros(0)
        for xyxy, c, k in zip(detections.xyxy, confidences, class_ids, strict=True):
            boxes.setdefault(names[int(k)], []).append((float(c), np.asarray(xyxy, np.float64)))
        found.append(boxes)
    return found


def vehicle_agreement(base_weights: Path, candidate_weights: Path, images: Sequence[Path], imgsz: int = 640
                      ) -> list[Agreement]:
    """The candidate's recall of the base model's confident detections of ``KEPT_CLASSES`` on ``images``.

    The base runs in Ultralytics at ``imgsz``; the candidate as ``streetwatch process`` runs it
    (so an ``.onnx`` export is measured as deployed)."""
    from ultralytics import YOLO

    base = _predict(YOLO(str(base_weights)), images, imgsz, BASE_CONF)
    candidate = _detect(candidate_weights, images, CANDIDATE_CONF)
    totals = {name: [0, 0] for name in KEPT_CLASSES}
    for b, c in zip(base, candidate, strict=True):
        for name, (matched, of) in match_counts(b, c).items():
            totals[name][0] += matched
            totals[name][1] += of
    return [Agreement(name, m, n) for name, (m, n) in totals.items()]


GARBAGE_CLASSES = ("garbage_pile", "trash_bag", "bin")


def garbage_hits(weights: Path, photos: Sequence[Path], conf: float = CANDIDATE_CONF
                 ) -> tuple[dict[str, int], list[tuple[Path, Boxes]]]:
    """On unlabelled photos: how many images get each garbage class at ``conf``, and the images hit."""
    found = _detect(weights, photos, conf)
    per_class = {name: sum(1 for f in found if f.get(name)) for name in GARBAGE_CLASSES}
    hits = [(p, f) for p, f in zip(photos, found, strict=True) if any(f.get(name) for name in GARBAGE_CLASSES)]
    return per_class, hits


def contact_sheet(hits: Sequence[tuple[Path, Boxes]], out: Path, count: int = 10, width: int = 480) -> list[Path]:
    """``count`` evenly spaced hit images with their garbage boxes drawn, two per row, as one PNG."""
    import cv2

    chosen = [hits[round(i * (len(hits) - 1) / max(count - 1, 1))] for i in range(min(count, len(hits)))]
    tiles = []
    colours = {"garbage_pile": (0, 0, 255), "trash_bag": (0, 200, 255), "bin": (255, 128, 0)}
    for path, boxes in chosen:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read image {path}")
        scale = width / image.shape[1]
        image = cv2.resize(image, (width, round(image.shape[0] * scale)))
        for name in GARBAGE_CLASSES:
            for c, xyxy in boxes.get(name, []):
                x1, y1, x2, y2 = (round(v * scale) for v in xyxy)
                cv2.rectangle(image, (x1, y1), (x2, y2), colours[name], 2)
                cv2.putText(image, f"{name} {c:.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                            colours[name], 1, cv2.LINE_AA)
        tiles.append(image)
    if not tiles:
        return []
    if len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    rows = []
    for left, right in zip(tiles[::2], tiles[1::2], strict=True):   # each row as tall as its taller photo
        tall = max(left.shape[0], right.shape[0])
        rows.append(np.hstack([cv2.copyMakeBorder(t, 0, tall - t.shape[0], 0, 0, cv2.BORDER_CONSTANT)
                               for t in (left, right)]))
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack(rows))
    return [path for path, _ in chosen]


def read_list(path: Path) -> list[Path]:
    """Image paths, one per line (relative lines are taken from the list's folder)."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [p if p.is_absolute() else path.parent / p for p in map(Path, lines)]


def format_agreement(title: str, rows: Iterable[Agreement]) -> str:
    lines = [f"== {title} (base conf >= {BASE_CONF}, candidate conf >= {CANDIDATE_CONF}, IoU >= {MATCH_IOU})"]
    for r in rows:
        recall = f"{r.recall:.3f}" if r.recall is not None else "n/a"
        lines.append(f"{r.name:<12} {r.matched:>4}/{r.of:<4} {recall:>7}")
    return "\n".join(lines)


def format_metrics(title: str, rows: Iterable[ClassMetrics]) -> str:
    lines = [f"== {title}", f"{'class':<16} {'imgs':>5} {'inst':>5} {'P':>6} {'R':>6} {'mAP50':>6} {'50-95':>6}"]
    lines += [f"{r.name:<16} {r.images:>5} {r.instances:>5} {r.precision:6.3f} {r.recall:6.3f} {r.map50:6.3f} "
              f"{r.map50_95:6.3f}" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="the candidate's weights (.pt, validated per source)")
    parser.add_argument("--deployed", type=Path, help="its export as process runs it (.onnx) for the agreement "
                                                        "(default: the .pt itself)")
    parser.add_argument("--base", type=Path, required=True, help="the COCO base (models import-tflite)")
    parser.add_argument("--dataset", type=Path, required=True,
                        help="a recipe's dataset folder: data_val_<source>.yaml and val_<source>.txt (the street "
                             "source is the held-out street frames)")
    parser.add_argument("--imgsz", type=int, default=512, help="validation image size (the training size)")
    parser.add_argument("--agreement-imgsz", type=int, default=640, help="image size of the agreement predictions")
    parser.add_argument("--photos", type=Path, help="also: a folder of unlabelled street photos (Amsterdam "
                                                      "garbage): images with a garbage detection, and a sheet")
    parser.add_argument("--sheet", type=Path, help="where the photos' contact sheet goes (PNG)")
    parser.add_argument("--out", type=Path, help="write the figures as YAML here too")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report: dict[str, Any] = {"model": str(args.model), "deployed": str(args.deployed or args.model),
                              "per_source": {}, "vehicle_agreement": {}}
    for source in SOURCES:
        data = args.dataset / f"data_val_{source}.yaml"
        if not data.is_file():
            continue
        rows = evaluate(args.model, data, imgsz=args.imgsz)
        print(format_metrics(f"{source}: {data.name}", rows), flush=True)
        report["per_source"][source] = [asdict(r) for r in rows]
    lists = {"held_out_street_frames": read_list(args.dataset / "val_street.txt"),
             "all_val_images": [p for source in SOURCES if (f := args.dataset / f"val_{source}.txt").is_file()
                                for p in read_list(f)]}
    for name, images in lists.items():
        rows_a = vehicle_agreement(args.base, args.deployed or args.model, images, args.agreement_imgsz)
        print(format_agreement(f"{name}: {len(images)} images", rows_a), flush=True)
        report["vehicle_agreement"][name] = {r.name: {"matched": r.matched, "of": r.of, "recall": r.recall}
                                             for r in rows_a}
    if args.photos:
        photos = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        per_class, hits = garbage_hits(args.deployed or args.model, photos)
        print(f"== {args.photos}: {len(photos)} photos, {len(hits)} with a garbage detection at conf >= "
              f"{CANDIDATE_CONF}: " + ", ".join(f"{name} {n}" for name, n in per_class.items()), flush=True)
        shown = contact_sheet(hits, args.sheet) if args.sheet else []
        if shown:
            print(f"sheet {args.sheet}: " + ", ".join(p.name for p in shown))
        report["photos"] = {"folder": str(args.photos), "images": len(photos), "with_garbage": len(hits),
                            "per_class_images": per_class, "sheet": [p.name for p in shown]}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(yaml.safe_dump(report, sort_keys=False, allow_unicode=True), encoding="utf-8")
        print(f"wrote {args.out}")
    print(f"wall {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
