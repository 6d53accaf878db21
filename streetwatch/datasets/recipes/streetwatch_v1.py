"""Recipe for ``streetwatch-v1``'s training set: street evidence, advertising and garbage.

Classes (the model's output order)::

    person, bicycle, car, motorcycle, bus, truck, bench, umbrella, dining_table, chair,
    shop_sign, projecting_sign, window_ad, garbage_pile, trash_bag, bin

Sources (licences in ``SOURCES`` below; nothing is copied into any repository):

* ``facades``: ``<shared>/facades_ads``, human boxes; ``signboard``/``cantilever``/``win_ad`` become
  ``shop_sign``/``projecting_sign``/``window_ad`` (window, arch, door dropped), as in v0.
* ``garbage``: ``alan61503/garbage-overflow-detection`` at ``5f9d195c``,
  ``Garbage-Detection-1/{train,valid,test}`` (one copy; the nested duplicate folder is ignored);
  class 1 ``garbage`` -> ``garbage_pile``; class 0 ``Images`` is junk and dropped.
* ``woosong``: ``itsCaveMan/WoosongVision`` at ``33a6b888``, ``datasets/dataset_v2_...``; YOLO polygons of
  ``general_trashbag``/``other_trashbag`` -> the enclosing box, class ``trash_bag``. Only the
  ``20231005_*`` phone photos (curbside bag piles) are used; the colour-cast truck-camera grabs
  (``Screenshot-*``, ``-2023-1*``) and the ``IMG_*`` close-ups are skipped (``--woosong-prefix``).
* ``bins``: ``amandamps/Trabalho-de-ML`` at ``7df369a3``, ``Dataset/{train,valid,test}``: three litter-bin
  designs (classes 0, 1, 2) merged into ``bin``.
* ``street``: real street frames, sampled from ``<shared>/street_clips/video/*.mp4`` (2 frames/s; 0.5 frame/s
  for the two fixed cameras), plus ``<shared>/street_clips/photos`` and
  ``<shared>/plates_and_text/ccpd_whole_car``; and Ultralytics' ``bus.jpg``/``zidane.jpg`` (train only).
  No human labels: these carry the vehicles (pseudo-labels only).
* ``amsterdam``: ``<shared>/amsterdam_garbage`` (no labels). EXCLUDED by default (``--amsterdam-every 0``):
  these photos show garbage containers, bags and cardboard but have no garbage labels, so training on them
  would teach ``garbage_pile``/``trash_bag``/``bin`` that such things are background, and they are the
  pool for the qualitative garbage check. ``--amsterdam-every N`` adds every Nth photo (pseudo-labels only).

Pseudo-labels: the COCO base model's own detections at ``--pseudo-conf`` (0.5) of the 10 kept COCO classes,
on EVERY image (facades, garbage and bin photos included, so that their cars and people are not
background), exactly as v0.

Splits (``val`` is never trained on):

* Fetched Roboflow exports hold several augmented copies of one photo. Files are grouped by SOURCE photo
  (the file stem without ``.rf.<hash>`` and the ``_jpg``/``_png``/``_jpeg`` suffix) across the export's own
  train/valid/test folders. Source photos taken in one burst are grouped further into a SESSION, because
  they show the same pile or bin seconds apart: ``woosong`` photos ``20231005_HHMMSS`` less than
  ``WOOSONG_BURST_S`` seconds after the previous one, and ``bins`` photos ``PAP-X-NNNN`` within
  ``BINS_SERIAL_GAP`` of the previous serial number (consecutive shots: often the same bin nearer or
  further). Each session goes wholly to train or val: sessions are taken in the order of a hash of their
  first photo's key into val until val holds the fraction of source photos (15 %; 25 % for ``woosong``,
  which is small); sources without sessions (garbage) are split per photo by hash. One copy per source photo is written
  (``--copies-woosong`` for the woosong training split), chosen by hash so that the choice is stable.
* Facades: by a hash of the file name (15 %), as v0.
* Street frames: a FIXED hold-out for the vehicle-agreement measurement, all in ``val``: every frame of
  the clips in ``HELD_OUT_CLIPS`` and every other photo (odd positions in sorted order) of the street photos
  and of the CCPD whole-car photos. The list is written to ``holdout_street.txt``.

Outputs under ``--out``: ``images/{train,val}``, ``labels/{train,val}``, ``data.yaml``; per-source
validation lists ``val_<source>.txt`` with ``data_val_<source>.yaml``; ``counts.yaml`` (images and
instances per source, split and class, with licences) and ``manifest.csv`` (one row per written image).

Usage::

    python -m streetwatch.datasets.recipes.streetwatch_v1 --shared ../shared/data --raw var/raw \\
        --base var/base/yolov8n-coco.pt --out var/datasets/streetwatch-v1

where ``--raw`` holds the three fetched repositories' folders (``git archive <commit> <path>``)::

    <raw>/garbage_overflow/Garbage-Detection-1/{train,valid,test}/{images,labels}
    <raw>/woosong/datasets/dataset_v2_segmented_raw1284(argmented3448)_pytorchlabels/{train,valid,test}/...
    <raw>/bins/Dataset/{train,valid,test}/{images,labels}
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import yaml

from streetwatch.datasets.recipes.streetwatch_v0 import resize_to

os.environ.setdefault("YOLO_OFFLINE", "1")

# Our class list, in the order the model predicts them.
CLASSES: list[str] = [
    "person", "bicycle", "car", "motorcycle", "bus", "truck", "bench", "umbrella", "dining_table", "chair",
    "shop_sign", "projecting_sign", "window_ad", "garbage_pile", "trash_bag", "bin",
]
# Our name -> the COCO base's name, for the classes the base already knows (also for head surgery).
FROM_COCO: dict[str, str] = {name: name.replace("_", " ") for name in CLASSES[:10]}
# Per human-labelled source: its class id -> our name (ids not listed are dropped).
FROM_FACADES: dict[int, str] = {1: "projecting_sign", 3: "shop_sign", 4: "window_ad"}
FROM_GARBAGE: dict[int, str] = {1: "garbage_pile"}            # 0 "Images" is junk
FROM_WOOSONG: dict[int, str] = {0: "trash_bag", 1: "trash_bag"}
FROM_BINS: dict[int, str] = {0: "bin", 1: "bin", 2: "bin"}

GARBAGE_DIR = Path("garbage_overflow/Garbage-Detection-1")
WOOSONG_DIR = Path("woosong/datasets/dataset_v2_segmented_raw1284(argmented3448)_pytorchlabels")
BINS_DIR = Path("bins/Dataset")
ROBOFLOW_SPLITS = ("train", "valid", "test")

# Burst grouping (see the module docstring): photos this close belong to one session.
WOOSONG_BURST = re.compile(r"^(\d{8})_(\d{2})(\d{2})(\d{2})")
WOOSONG_BURST_S = 10
BINS_SERIAL = re.compile(r"^(PAP-[A-Z]+)-(\d+)")
BINS_SERIAL_GAP = 1

# Street clips never trained on (the vehicle-agreement hold-out), and fixed cameras sampled more sparsely.
HELD_OUT_CLIPS: frozenset[str] = frozenset({"beijing_dashcam_traffic_2", "hubei_parked_bays_handheld_2"})
FIXED_CAMERA_CLIPS: frozenset[str] = frozenset({"korea_cctv_no_parking_zone", "overhead_car_park"})

SOURCES: dict[str, dict[str, str]] = {
    "facades": {"origin": "shared/data/facades_ads (Urban-Research-Lab building-facades-advertising-dataset)",
                "licence": "CC0"},
    "garbage": {"origin": "github alan61503/garbage-overflow-detection@5f9d195c71e1a1d37b6e8de8df8345b75ba3d955 "
                          "Garbage-Detection-1 (Roboflow garbage-detection-h4vqo-r4vd1 v1)",
                "licence": "CC BY 4.0 (Roboflow export); repository MIT"},
    "woosong": {"origin": "github itsCaveMan/WoosongVision@33a6b888361cc87f9a933951be932eae0ecdcdd0 "
                          "dataset_v2 (Roboflow trashbags-segmentation-v1-v2 v1), 20231005_* photos",
                "licence": "CC BY 4.0"},
    "bins": {"origin": "github amandamps/Trabalho-de-ML@7df369a356343e8c5e857f382e33ae8409c3e860 Dataset",
             "licence": "CC BY 4.0"},
    "street": {"origin": "shared/data/street_clips (video frames, photos), plates_and_text/ccpd_whole_car, "
                         "Ultralytics bus.jpg/zidane.jpg",
               "licence": "per clip/photo: MIT, Apache-2.0, AGPL-3.0, CC-BY-4.0 (see shared/data/INVENTORY.md)"},
    "amsterdam": {"origin": "shared/data/amsterdam_garbage", "licence": "free reuse (City of Amsterdam)"},
}

Row = tuple[int, float, float, float, float]  # class, cx, cy, w, h (normalised)
_RF_SUFFIX = re.compile(r"\.rf\.[0-9a-f]+$")
_EXT_SUFFIX = re.compile(r"_(jpg|jpeg|png|JPG|JPEG|PNG)$")


@dataclass(frozen=True, slots=True)
class Item:
    """One image to write: where it comes from, its human labels (our ids) and its split."""

    source: str                       # facades | garbage | woosong | bins | street | amsterdam
    name: str                         # unique output stem
    split: str                        # train | val
    load: Callable[[], np.ndarray]    # returns the BGR image
    human: tuple[Row, ...] = field(default=())
    origin: str = ""                  # the original file (and frame) for the manifest


# ----------------------------------------------------------------------------------------- helpers
def hash_fraction(key: str) -> float:
    """A stable number in [0, 1] for ``key``."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def split_of(key: str, val_fraction: float) -> str:
    """'val' for a stable ``val_fraction`` of keys, 'train' for the rest (same rule as v0)."""
    return "val" if hash_fraction(key) < val_fraction else "train"


def source_key(image: Path) -> str:
    """The Roboflow source photo of an exported file: ``img7_jpg.rf.ab12.jpg`` -> ``img7``."""
    return _EXT_SUFFIX.sub("", _RF_SUFFIX.sub("", image.stem))


def read_yolo(path: Path, mapping: dict[int, str]) -> tuple[Row, ...]:
    """Read a YOLO txt of boxes or polygons; map class ids to ours (others dropped); polygons -> boxes.

    Raises:
        ValueError: a line that is neither ``c cx cy w h`` nor ``c x1 y1 x2 y2 x3 y3 ...``.
    """
    if not path.exists():
        return ()
    rows: list[Row] = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        values = [float(v) for v in parts[1:]]
        if len(values) < 4 or (len(values) != 4 and len(values) % 2):
            raise ValueError(f"{path}:{line_no}: expected a box or a polygon, got {len(parts)} values")
        cls = int(parts[0])
        if cls not in mapping:
            continue
        if len(values) == 4:
            cx, cy, w, h = values
        else:
            xy = np.clip(np.asarray(values).reshape(-1, 2), 0.0, 1.0)
            (x1, y1), (x2, y2) = xy.min(0), xy.max(0)
            cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        if w > 0 and h > 0:
            rows.append((CLASSES.index(mapping[cls]), float(cx), float(cy), float(w), float(h)))
    return tuple(rows)


def sessions(keys: Iterable[str], pattern: re.Pattern[str], position: Callable[[re.Match[str]], int],
             max_gap: int) -> dict[str, str]:
    """Map each key to its session: the first key of a run whose ``position`` steps by at most ``max_gap``.

    ``pattern`` groups 1.. except the last define a series (e.g. the date or the camera prefix); keys that do
    not match are sessions of their own.
    """
    parsed: list[tuple[tuple[str, ...], int, str]] = []
    session: dict[str, str] = {}
    for key in keys:
        match = pattern.match(key)
        if match is None:
            session[key] = key
        else:
            parsed.append((match.groups()[:1], position(match), key))
    previous: tuple[tuple[str, ...], int] | None = None
    first = ""
    for series, pos, key in sorted(parsed):
        if previous is None or series != previous[0] or pos - previous[1] > max_gap:
            first = key
        session[key] = first
        previous = (series, pos)
    return session


def woosong_sessions(keys: Iterable[str]) -> dict[str, str]:
    """Woosong phone photos ``YYYYMMDD_HHMMSS``: bursts less than ``WOOSONG_BURST_S`` seconds apart."""
    return sessions(keys, WOOSONG_BURST, lambda m: int(m[2]) * 3600 + int(m[3]) * 60 + int(m[4]), WOOSONG_BURST_S)


def bins_sessions(keys: Iterable[str]) -> dict[str, str]:
    """Bin photos ``PAP-X-NNNN``: runs of serial numbers at most ``BINS_SERIAL_GAP`` apart."""
    return sessions(keys, BINS_SERIAL, lambda m: int(m[2]), BINS_SERIAL_GAP)


def image_loader(path: Path) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"cannot read image {path}")
        return image
    return load


def _constant(image: np.ndarray) -> Callable[[], np.ndarray]:
    """A loader for an image already in memory (a decoded video frame)."""
    return lambda: image


# ------------------------------------------------------------------------------------------ sources
def facade_items(shared: Path, val_fraction: float) -> list[Item]:
    root = shared / "facades_ads"
    items = []
    for image in sorted((root / "images" / "train").glob("*.jpg")):
        name = f"facades_{image.stem}"
        items.append(Item("facades", name, split_of(name, val_fraction), image_loader(image),
                          read_yolo(root / "labels" / "train" / f"{image.stem}.txt", FROM_FACADES), str(image)))
    return items


def roboflow_items(source: str, root: Path, mapping: dict[int, str], val_fraction: float,
                   train_copies: int = 1, keep: Callable[[str], bool] = lambda key: True,
                   group: Callable[[Iterable[str]], dict[str, str]] | None = None) -> list[Item]:
    """Items of a Roboflow export, grouped by source photo across its train/valid/test folders.

    Each source photo (or, with ``group``, each session of source photos) goes to one split;
    ``train_copies`` of its files (1 in val) are written, chosen by a hash of the file name.
    """
    groups: dict[str, list[Path]] = defaultdict(list)
    for folder in ROBOFLOW_SPLITS:
        for image in (root / folder / "images").glob("*.jpg"):
            key = source_key(image)
            if keep(key):
                groups[key].append(image)
    if not groups:
        raise FileNotFoundError(f"no images under {root}/{{train,valid,test}}/images")
    if group is None:
        split_by_key = {key: split_of(f"{source}_{key}", val_fraction) for key in groups}
    else:  # whole sessions into val, in hash order, until val holds ``val_fraction`` of the source photos
        session = group(groups)
        members: dict[str, list[str]] = defaultdict(list)
        for key, first in session.items():
            members[first].append(key)
        split_by_key = dict.fromkeys(groups, "train")
        in_val = 0
        for first in sorted(members, key=lambda f: hash_fraction(f"{source}_{f}")):
            if in_val >= val_fraction * len(groups):
                break
            for key in members[first]:
                split_by_key[key] = "val"
            in_val += len(members[first])
    items = []
    for key in sorted(groups):
        split = split_by_key[key]
        copies = sorted(groups[key], key=lambda p: hash_fraction(p.name))[: train_copies if split == "train" else 1]
        for index, image in enumerate(copies):
            labels = image.parent.parent / "labels" / f"{image.stem}.txt"
            name = f"{source}_{key}" + (f"_c{index}" if index else "")
            items.append(Item(source, name, split, image_loader(image), read_yolo(labels, mapping), str(image)))
    return items


def video_frames(path: Path, every_s: float) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, BGR frame) roughly every ``every_s`` seconds of ``path``, starting at 0."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        next_t = 0.0
        for index, frame in enumerate(container.decode(stream)):
            t = float(frame.time) if frame.time is not None else index / float(stream.average_rate or 1)
            if t + 1e-6 >= next_t:
                yield index, frame.to_ndarray(format="bgr24")
                next_t += every_s


def street_items(shared: Path, fps: float, fixed_fps: float) -> list[Item]:
    """Frames of every clip, the street photos and the CCPD whole-car photos, with the fixed hold-out."""
    items: list[Item] = []
    for clip in sorted((shared / "street_clips" / "video").glob("*.mp4")):
        split = "val" if clip.stem in HELD_OUT_CLIPS else "train"
        rate = fixed_fps if clip.stem in FIXED_CAMERA_CLIPS else fps
        for index, frame in video_frames(clip, 1.0 / rate):
            items.append(Item("street", f"street_{clip.stem}_f{index:05d}", split,
                              _constant(frame), (), f"{clip}#frame={index}"))
    for folder, prefix in ((shared / "street_clips" / "photos", "photo"),
                           (shared / "plates_and_text" / "ccpd_whole_car", "ccpd")):
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        for position, photo in enumerate(photos):
            stem = photo.stem if prefix == "photo" else f"{position:02d}"  # CCPD names encode plates: shorten
            items.append(Item("street", f"street_{prefix}_{stem}", "val" if position % 2 else "train",
                              image_loader(photo), (), str(photo)))
    from ultralytics.utils import ASSETS

    for name in ("bus.jpg", "zidane.jpg"):
        items.append(Item("street", f"street_ultralytics_{Path(name).stem}", "train",
                          image_loader(Path(ASSETS) / name), (), f"ultralytics/assets/{name}"))
    return items


def amsterdam_items(shared: Path, every: int) -> list[Item]:
    if every <= 0:
        return []
    photos = sorted((shared / "amsterdam_garbage" / "images").glob("*.jpg"))[::every]
    return [Item("amsterdam", f"amsterdam_{p.stem}", "train", image_loader(p), (), str(p)) for p in photos]


def collect(shared: Path, raw: Path, *, val_fraction: float = 0.15, woosong_val_fraction: float = 0.25,
            woosong_prefixes: Sequence[str] = ("20231005_",), copies_woosong: int = 1,
            street_fps: float = 2.0, fixed_fps: float = 0.5, amsterdam_every: int = 0) -> list[Item]:
    """Every item of the dataset, before pseudo-labelling."""
    items = facade_items(shared, val_fraction)
    items += roboflow_items("garbage", raw / GARBAGE_DIR, FROM_GARBAGE, val_fraction)
    prefixes = tuple(woosong_prefixes)

    def keep_woosong(key: str) -> bool:
        return key.startswith(prefixes)

    items += roboflow_items("woosong", raw / WOOSONG_DIR, FROM_WOOSONG, woosong_val_fraction, copies_woosong,
                            keep=keep_woosong, group=woosong_sessions)
    items += roboflow_items("bins", raw / BINS_DIR, FROM_BINS, val_fraction, group=bins_sessions)
    items += street_items(shared, street_fps, fixed_fps)
    items += amsterdam_items(shared, amsterdam_every)
    names = Counter(item.name for item in items)
    duplicates = [n for n, c in names.items() if c > 1]
    if duplicates:
        raise ValueError(f"duplicate output names: {duplicates[:5]}")
    return items


# ---------------------------------------------------------------------------------------- labelling
def pseudo_labels(model: object, images: list[np.ndarray], conf: float) -> Iterable[list[Row]]:
    """The base model's detections of the kept COCO classes, in our class ids."""
    coco_to_ours = {coco: CLASSES.index(ours) for ours, coco in FROM_COCO.items()}
    results = model.predict(images, imgsz=640, conf=conf, verbose=False, device="cpu")  # type: ignore[attr-defined]
    for result in results:
        rows: list[Row] = []
        for cls, xywhn in zip(result.boxes.cls.tolist(), result.boxes.xywhn.tolist(), strict=True):
            ours = coco_to_ours.get(result.names[int(cls)])
            if ours is not None:
                rows.append((ours, *xywhn))
        yield rows


def build(items: list[Item], base: Path, out: Path, *, max_side: int = 640, pseudo_conf: float = 0.5,
          batch: int = 16) -> Path:
    """Pseudo-label and write ``items`` under ``out``; return its ``data.yaml``."""
    from ultralytics import YOLO

    if not base.is_file():
        raise FileNotFoundError(f"base checkpoint not found: {base}")
    model = YOLO(str(base), task="detect")
    counts: Counter[tuple[str, str, str]] = Counter()
    val_lists: dict[str, list[str]] = defaultdict(list)
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    with (out / "manifest.csv").open("w", newline="") as handle:
        manifest = csv.writer(handle)
        manifest.writerow(["image", "source", "split", "origin", "human_boxes", "pseudo_boxes"])
        for start in range(0, len(items), batch):
            chunk = items[start:start + batch]
            images = [resize_to(item.load(), max_side) for item in chunk]
            for item, image, machine in zip(chunk, images, pseudo_labels(model, images, pseudo_conf), strict=True):
                rows = list(item.human) + machine
                image_path = out / "images" / item.split / f"{item.name}.jpg"
                cv2.imwrite(str(image_path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
                (out / "labels" / item.split / f"{item.name}.txt").write_text(
                    "".join(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in rows))
                manifest.writerow([image_path.relative_to(out), item.source, item.split, item.origin,
                                   len(item.human), len(machine)])
                counts[(item.source, item.split, "images")] += 1
                for c, *_ in rows:
                    counts[(item.source, item.split, CLASSES[c])] += 1
                if item.split == "val":
                    val_lists[item.source].append(str(image_path.resolve()))
            print(f"{min(start + batch, len(items))}/{len(items)} images", flush=True)
    names = dict(enumerate(CLASSES))
    data_yaml = out / "data.yaml"
    data_yaml.write_text(yaml.safe_dump({"path": str(out.resolve()), "train": "images/train",
                                         "val": "images/val", "names": names}, sort_keys=False))
    for source, paths in sorted(val_lists.items()):
        (out / f"val_{source}.txt").write_text("".join(f"{p}\n" for p in sorted(paths)))
        (out / f"data_val_{source}.yaml").write_text(yaml.safe_dump(
            {"path": str(out.resolve()), "train": "images/train", "val": f"val_{source}.txt", "names": names},
            sort_keys=False))
    holdout = sorted(item.origin for item in items if item.source == "street" and item.split == "val")
    (out / "holdout_street.txt").write_text("".join(f"{o}\n" for o in holdout))
    summary: dict[str, object] = {}
    for source in sorted({s for s, _, _ in counts}):
        summary[source] = {**SOURCES[source], **{
            split: {k: counts[(source, split, k)] for k in ["images", *CLASSES] if counts[(source, split, k)]}
            for split in ("train", "val") if counts[(source, split, "images")]}}
    summary["total"] = {split: {k: sum(counts[(s, split, k)] for s in SOURCES) for k in ["images", *CLASSES]}
                        for split in ("train", "val")}
    (out / "counts.yaml").write_text(yaml.safe_dump(summary, sort_keys=False, width=120))
    return data_yaml


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, required=True, help="the shared data folder (INVENTORY.md)")
    parser.add_argument("--raw", type=Path, required=True, help="folder with the three fetched repositories")
    parser.add_argument("--base", type=Path, required=True, help="COCO base checkpoint (models import-tflite)")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to write (must be new or empty)")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--woosong-val-fraction", type=float, default=0.25)
    parser.add_argument("--woosong-prefix", action="append", default=None,
                        help="woosong source-photo prefixes to keep (default: 20231005_)")
    parser.add_argument("--copies-woosong", type=int, default=1, help="augmented copies per woosong train photo")
    parser.add_argument("--street-fps", type=float, default=2.0)
    parser.add_argument("--fixed-camera-fps", type=float, default=0.5)
    parser.add_argument("--amsterdam-every", type=int, default=0, help="add every Nth Amsterdam photo (0: none)")
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--pseudo-conf", type=float, default=0.5)
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty; remove it first (stale images would stay in the splits)")
    items = collect(args.shared, args.raw, val_fraction=args.val_fraction,
                    woosong_val_fraction=args.woosong_val_fraction,
                    woosong_prefixes=tuple(args.woosong_prefix or ["20231005_"]), copies_woosong=args.copies_woosong,
                    street_fps=args.street_fps, fixed_fps=args.fixed_camera_fps,
                    amsterdam_every=args.amsterdam_every)
    path = build(items, args.base, args.out, max_side=args.max_side, pseudo_conf=args.pseudo_conf)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
