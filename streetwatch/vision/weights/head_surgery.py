"""Re-cut a YOLOv8 detection head to our class list, keeping what it already knows.

Fine-tuning a COCO detector on our taxonomy would otherwise start the classification head from scratch
(ultralytics drops layers whose shapes change). ``select_classes`` instead builds a head with one output row
per class of ours: rows for classes with a COCO counterpart (``"dining_table" -> "dining table"``) are copied
from the source, rows for new classes (ads, bins, ...) start the way ultralytics' ``Detect.bias_init`` starts
them (bias ``log(5 / nc / (640 / stride) ** 2)``, small weights), so they stay silent until trained. The box
and DFL branches and the whole backbone are copied unchanged.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from streetwatch.vision.weights.tflite_import import save_checkpoint

__all__ = ["HeadSurgeryError", "RowSource", "plan_rows", "select_classes"]

NEW_ROW_WEIGHT_STD = 0.01  # "small": new classes begin near their prior, not at a random logit


class HeadSurgeryError(ValueError):
    """The requested class list or mapping does not fit the source checkpoint."""


@dataclass(frozen=True, slots=True)
class RowSource:
    """Where one output class of the new head comes from."""

    name: str
    source_index: int | None  # row in the source head, None for a new class
    source_name: str | None


def plan_rows(
    names_out: Sequence[str],
    source_names: Mapping[int, str],
    mapping: Mapping[str, str],
    match_same_names: bool = True,
) -> list[RowSource]:
    """Decide, for each of our classes, which source row (if any) it inherits.

    Args:
        names_out: Our class names, in output order.
        source_names: The source model's names (index -> name).
        mapping: Our name -> source name for classes named differently (``{"dining_table": "dining table"}``).
        match_same_names: Also inherit rows of source classes with exactly our name (``"car" -> "car"``).

    Returns:
        One ``RowSource`` per class in ``names_out``.

    Raises:
        HeadSurgeryError: Duplicate or empty names, a mapping key not in ``names_out``, or a mapping value
            that is not a source class.
    """
    if not names_out:
        raise HeadSurgeryError("names_out is empty: the new head needs at least one class")
    duplicates = sorted({n for n in names_out if list(names_out).count(n) > 1})
    if duplicates:
        raise HeadSurgeryError(f"names_out repeats {duplicates}")
    unknown_keys = sorted(set(mapping) - set(names_out))
    if unknown_keys:
        raise HeadSurgeryError(f"mapping names {unknown_keys}, which are not in names_out {list(names_out)}")
    index_of = {name: index for index, name in source_names.items()}
    unknown_values = sorted(v for v in mapping.values() if v not in index_of)
    if unknown_values:
        raise HeadSurgeryError(
            f"mapping points at {unknown_values}, which the source model lacks; it has {sorted(index_of)}"
        )
    rows = []
    for name in names_out:
        source = mapping.get(name, name if match_same_names and name in index_of else None)
        rows.append(RowSource(name, index_of[source] if source else None, source))
    return rows


def _load_detection_model(path: Path) -> Any:
    if not path.is_file():  # ultralytics would otherwise try to download a missing name
        raise FileNotFoundError(f"checkpoint not found: {path}")
    from ultralytics.nn.tasks import load_checkpoint

    model, _ = load_checkpoint(path)
    if not hasattr(model, "names") or not hasattr(model.model[-1], "cv3"):
        raise HeadSurgeryError(f"{path} does not hold a YOLO detection model with a Detect head")
    return model


@torch.no_grad()
def select_classes(
    ckpt_in: str | os.PathLike[str],
    names_out: list[str],
    mapping: dict[str, str],
    out_path: str | os.PathLike[str],
    match_same_names: bool = True,
    seed: int = 0,
) -> Path:
    """Write a checkpoint whose head predicts ``names_out``, inheriting source rows where they exist.

    Args:
        ckpt_in: Source ultralytics checkpoint (e.g. the imported COCO yolov8n).
        names_out: Our class names, in output order; nc = len(names_out).
        mapping: Our name -> source name for classes named differently.
        out_path: The ``.pt`` file to write.
        match_same_names: Classes with exactly a source class's name inherit its row.
        seed: Seed for the small random weights of new classes (reproducible checkpoints).

    Returns:
        The written path.

    Raises:
        FileNotFoundError: ``ckpt_in`` does not exist.
        HeadSurgeryError: See ``plan_rows``; or the checkpoint has no Detect head.
    """
    from ultralytics.nn.tasks import DetectionModel

    source_path = Path(ckpt_in)
    source = _load_detection_model(source_path)
    rows = plan_rows(names_out, source.names, mapping, match_same_names)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    config = {**deepcopy(source.yaml), "nc": len(names_out)}
    target: Any = DetectionModel(config, nc=len(names_out), verbose=False)
    source_head: Any = source.model[-1]
    target_head: Any = target.model[-1]
    # Detect's hidden class width is max(ch[0], min(nc, 100)), so it shrinks with nc; keep the source's width
    # (as ultralytics' own DetectionModel.load does) so the hidden layers transfer exactly.
    target_head.cv3 = deepcopy(source_head.cv3)
    generator = torch.Generator().manual_seed(seed)
    for level, branch in enumerate(target_head.cv3):
        old_conv = branch[-1]
        new_conv: Any = torch.nn.Conv2d(old_conv.in_channels, len(names_out), 1)
        new_conv.weight.copy_(torch.randn(new_conv.weight.shape, generator=generator) * NEW_ROW_WEIGHT_STD)
        new_conv.bias.fill_(math.log(5 / len(names_out) / (640 / float(target_head.stride[level])) ** 2))
        for row, plan in enumerate(rows):
            if plan.source_index is not None:
                new_conv.weight[row] = old_conv.weight[plan.source_index]
                new_conv.bias[row] = old_conv.bias[plan.source_index]
        branch[-1] = new_conv
    head_index = len(target.model) - 1
    levels = range(target_head.nl)
    class_rows = {f"model.{head_index}.cv3.{i}.2.{p}" for i in levels for p in ("weight", "bias")}
    kept = {k: v for k, v in source.state_dict().items() if k not in class_rows}
    result = target.load_state_dict(kept, strict=False)
    if set(result.missing_keys) != class_rows or result.unexpected_keys:
        raise HeadSurgeryError(
            f"{source_path}: architectures differ beyond the class rows: missing {result.missing_keys}, "
            f"unexpected {result.unexpected_keys}"
        )
    target.names = dict(enumerate(names_out))
    target.eval()
    surgery = {
        "source": str(source_path),
        "rows": {plan.name: plan.source_name for plan in rows},  # None: a new class
    }
    return save_checkpoint(target, out_path, head_surgery=surgery)
