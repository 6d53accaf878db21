"""The dataset layout's decisions: splits by video hash (stable, grouped, never empty val with two videos) and the
class order (the model card's classes, then the taxonomy's others)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from streetwatch.core.settings import DEFAULT_MODEL, DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.datasets.yolo_layout import DatasetError, assign_splits, dataset_classes, split_score

VIDEOS = [hashlib.sha256(f"video-{i}".encode()).hexdigest() for i in range(400)]
TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)


def test_splits_are_by_hash_stable_and_near_the_share() -> None:
    splits = assign_splits(VIDEOS, 0.2)
    assert splits == assign_splits(reversed(VIDEOS), 0.2)  # order does not matter
    assert all(splits[v] == ("val" if split_score(v) < 0.2 else "train") for v in VIDEOS)
    assert 0.14 <= sum(s == "val" for s in splits.values()) / len(VIDEOS) <= 0.26
    # Labelling more videos never moves one already split.
    assert {v: s for v, s in assign_splits([*VIDEOS, "x" * 64], 0.2).items() if v in splits} == splits


@pytest.mark.parametrize(("videos", "share", "val"), [
    ([], 0.2, 0),
    (VIDEOS[:1], 0.2, None),      # one video: wherever its hash puts it
    (VIDEOS[:2], 0.0, 0),         # no validation asked for
])
def test_small_sets(videos: list[str], share: float, val: int | None) -> None:
    splits = assign_splits(videos, share)
    assert set(splits) == set(videos)
    if val is not None:
        assert sum(s == "val" for s in splits.values()) == val


def test_two_or_more_videos_always_give_a_val_video() -> None:
    train_only = [v for v in VIDEOS if split_score(v) >= 0.2][:3]
    splits = assign_splits(train_only, 0.2)
    assert sorted(splits.values()) == ["train", "train", "val"]
    assert splits[min(train_only, key=split_score)] == "val"


@pytest.mark.parametrize("share", [-0.1, 1.0, 2.0])
def test_a_share_out_of_range_is_refused(share: float) -> None:
    with pytest.raises(DatasetError, match=r"--val-share must be within \[0, 1\)"):
        assign_splits(VIDEOS[:3], share)


def test_class_order_follows_the_model_card_then_the_taxonomy(tmp_path: Path) -> None:
    with_card = dataset_classes(TAXONOMY, DEFAULT_MODEL)
    assert with_card.names[:16] == ("person", "bicycle", "car", "motorcycle", "bus", "truck", "bench", "umbrella",
                                    "dining_table", "chair", "shop_sign", "projecting_sign", "window_ad",
                                    "garbage_pile", "trash_bag", "bin")
    assert set(with_card.names) == set(TAXONOMY.classes) and len(with_card.names) == len(TAXONOMY.classes)
    assert "0-15 are the detector streetwatch-v1's" in with_card.order
    without = dataset_classes(TAXONOMY, tmp_path / "weights.onnx")
    assert without.names == tuple(TAXONOMY.classes) and "no model card" in without.order
    (tmp_path / "model.yaml").write_text("name: odd\nclasses: {0: car, 1: hovercraft}\n")
    with pytest.raises(DatasetError, match="'hovercraft' is not in the taxonomy"):
        dataset_classes(TAXONOMY, tmp_path / "weights.onnx")
