"""``streetwatch dataset import``: small COCO, Pascal VOC and YOLO sets made here round-trip into our YOLO layout,
their class names mapped through the taxonomy's aliases; an unknown class is an error naming it and its file."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner, Result

from streetwatch.cli.main import app as cli

runner = CliRunner()
TOLERANCE = 1e-4  # normalised units
# Three pictures (width, height) and their objects: (class name as the outside tool spells it, x1, y1, x2, y2).
PICTURES: dict[str, tuple[tuple[int, int], list[tuple[str, float, float, float, float]]]] = {
    "street_a.jpg": ((64, 48), [("dining table", 4, 6, 30, 40), ("signboard", 35, 2, 60, 12)]),
    "street_b.jpg": ((80, 60), [("trashbag", 10, 30, 26, 58), ("Dining-Table", 40, 5, 75, 35)]),
    "street_c.jpg": ((64, 48), []),  # nothing here
}
CANONICAL = {"dining table": "dining_table", "signboard": "shop_sign", "trashbag": "trash_bag",
             "Dining-Table": "dining_table", "cantilever": "projecting_sign"}


def _picture(path: Path, size: tuple[int, int], seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels)


def make_coco(root: Path, pictures: dict[str, tuple[tuple[int, int], list[tuple[str, float, float, float, float]]]]
              ) -> Path:
    """CVAT's COCO export: images/ and annotations/instances_default.json (categories from 1, one never used)."""
    names = [*sorted({o[0] for _, objects in pictures.values() for o in objects}), "never_used_thing"]
    categories = [{"id": i + 1, "name": n, "supercategory": ""} for i, n in enumerate(names)]
    images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    for index, (name, ((w, h), objects)) in enumerate(pictures.items(), start=1):
        _picture(root / "images" / name, (w, h), index)
        images.append({"id": index, "file_name": name, "width": w, "height": h})
        for n, x1, y1, x2, y2 in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": index, "category_id": names.index(n) + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0,
                                "segmentation": []})
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_default.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": categories}))
    return root


def make_voc(root: Path, pictures: dict[str, tuple[tuple[int, int], list[tuple[str, float, float, float, float]]]]
             ) -> Path:
    """Pascal VOC: JPEGImages/ and Annotations/*.xml; bndbox is 1-based and inclusive, so xmin = x1 + 1."""
    (root / "Annotations").mkdir(parents=True)
    for index, (name, ((w, h), objects)) in enumerate(pictures.items(), start=1):
        _picture(root / "JPEGImages" / name, (w, h), 100 + index)
        body = "".join(f"<object><name>{n}</name><difficult>0</difficult><bndbox><xmin>{x1 + 1:g}</xmin>"
                       f"<ymin>{y1 + 1:g}</ymin><xmax>{x2:g}</xmax><ymax>{y2:g}</ymax></bndbox></object>"
                       for n, x1, y1, x2, y2 in objects)
        (root / "Annotations" / f"{Path(name).stem}.xml").write_text(
            f"<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}</height><depth>3</depth>"
            f"</size>{body}</annotation>")
    return root


def make_yolo(root: Path, pictures: dict[str, tuple[tuple[int, int], list[tuple[str, float, float, float, float]]]]
              ) -> Path:
    """Label Studio's YOLO export: classes.txt, images/, labels/."""
    names = sorted({o[0] for _, objects in pictures.values() for o in objects})
    (root / "classes.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("\n".join(names) + "\n")
    for index, (name, ((w, h), objects)) in enumerate(pictures.items(), start=1):
        _picture(root / "images" / name, (w, h), 200 + index)
        lines = [f"{names.index(n)} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} "
                 f"{(y2 - y1) / h:.6f}" for n, x1, y1, x2, y2 in objects]
        (root / "labels").mkdir(exist_ok=True)
        (root / "labels" / f"{Path(name).stem}.txt").write_text("\n".join(lines))
    return root


MAKERS = {"coco": (make_coco, "images"), "voc": (make_voc, "JPEGImages"), "yolo": (make_yolo, "images")}


def _import(src: Path, fmt: str, out: Path, *extra: str) -> Result:
    return runner.invoke(cli, ["dataset", "import", str(src), "--format", fmt, "--out", str(out), *extra])


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_a_labelled_set_round_trips_with_names_mapped(tmp_path: Path, fmt: str) -> None:
    make, image_folder = MAKERS[fmt]
    src = make(tmp_path / "src", PICTURES)
    out = tmp_path / "out"
    result = _import(src, fmt, out, "--licence", "CC BY 4.0, made by the test")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((out / "data.yaml").read_text())
    names = list(data["names"].values())
    assert data["licence"] == "CC BY 4.0, made by the test" and fmt in data["source"]
    with (out / "manifest.csv").open() as handle:
        manifest = {row["evidence_sha256"]: row for row in csv.DictReader(handle)}
    assert len(manifest) == len(PICTURES)
    for picture, ((w, h), objects) in PICTURES.items():
        sha = hashlib.sha256((src / image_folder / picture).read_bytes()).hexdigest()
        row = manifest[sha]  # renamed by content, copied byte for byte
        assert hashlib.sha256((out / row["image"]).read_bytes()).hexdigest() == sha
        assert row["licence"] == "CC BY 4.0, made by the test" and row["video_sha256"] == ""
        lines = (out / "labels" / row["split"] / f"{sha}.txt").read_text().split()
        got = sorted((int(lines[i]), *map(float, lines[i + 1:i + 5])) for i in range(0, len(lines), 5))
        want = sorted((names.index(CANONICAL[n]), (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)
                      for n, x1, y1, x2, y2 in objects)
        assert len(got) == len(want), (picture, got, want)
        for g, e in zip(got, want, strict=True):
            assert g[0] == e[0] and all(abs(a - b) <= TOLERANCE for a, b in zip(g[1:], e[1:], strict=True)), (g, e)
        assert sorted(row["classes"].split()) == sorted(CANONICAL[o[0]] for o in objects)


@pytest.mark.parametrize(("fmt", "annotation_file"), [
    ("coco", "annotations/instances_default.json"),
    ("voc", "Annotations/street_b.xml"),
    ("yolo", "labels/street_b.txt"),
])
def test_an_unknown_class_names_itself_and_its_file(tmp_path: Path, fmt: str, annotation_file: str) -> None:
    pictures = dict(PICTURES)
    pictures["street_b.jpg"] = ((80, 60), [("trashbag", 10, 30, 26, 58), ("hawker cart", 40, 5, 75, 35)])
    make, _ = MAKERS[fmt]
    src = make(tmp_path / "src", pictures)
    result = _import(src, fmt, tmp_path / "out")
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "class 'hawker cart' is not in the taxonomy" in output and annotation_file in output.replace("\\", "/")
    assert not (tmp_path / "out").exists()


def test_an_import_refuses_a_missing_layout_and_a_bad_format(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for fmt, message in (("voc", "Annotations/ and JPEGImages/"), ("coco", "no COCO annotation file"),
                         ("yolo", "no class names found"), ("labelme", "--format must be one of yolo, coco, voc")):
        result = _import(tmp_path / "empty", fmt, tmp_path / "out")
        assert result.exit_code == 2 and message in " ".join(result.output.split()), (fmt, result.output)
