"""The bundled model and its card agree: weights hash, classes, taxonomy coverage."""

from __future__ import annotations

import hashlib

import yaml

from streetwatch.core.settings import DEFAULT_MODEL, DEFAULT_TAXONOMY, DEFAULT_WEIGHTS_PT
from streetwatch.core.taxonomy import load_taxonomy

CARD = DEFAULT_WEIGHTS_PT.parent / "model.yaml"


def test_the_card_names_the_shipped_weights_by_hash() -> None:
    card = yaml.safe_load(CARD.read_text(encoding="utf-8"))
    assert card["file"] == DEFAULT_WEIGHTS_PT.name
    assert hashlib.sha256(DEFAULT_WEIGHTS_PT.read_bytes()).hexdigest() == card["sha256"]
    assert card["onnx"]["file"] == DEFAULT_MODEL.name
    assert hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest() == card["onnx"]["sha256"]


def test_the_card_classes_are_the_model_classes_and_all_in_the_taxonomy() -> None:
    from ultralytics import YOLO

    card = yaml.safe_load(CARD.read_text(encoding="utf-8"))
    names = {int(k): str(v) for k, v in YOLO(str(DEFAULT_WEIGHTS_PT), task="detect").names.items()}
    assert names == {int(k): str(v) for k, v in card["classes"].items()}
    from streetwatch.vision.detector import OnnxConfig, build_detector

    assert build_detector(OnnxConfig(weights=DEFAULT_MODEL)).names == names
    taxonomy = load_taxonomy(DEFAULT_TAXONOMY)
    assert [n for n in names.values() if taxonomy.lookup(n) is None] == []


def test_the_card_reports_every_class_it_was_validated_on() -> None:
    card = yaml.safe_load(CARD.read_text(encoding="utf-8"))
    reported = set(card["metrics"]["per_class"]) - {"all"}
    validated = {name for name, count in card["data"]["instances"]["val"].items() if count}
    assert reported == validated
