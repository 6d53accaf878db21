"""The bundled model and its card agree: weights hash, classes, taxonomy coverage."""

from __future__ import annotations

import hashlib

import yaml

from pipeline.settings import DEFAULT_MODEL, DEFAULT_TAXONOMY
from pipeline.taxonomy import load_taxonomy

CARD = DEFAULT_MODEL.parent / "model.yaml"


def test_the_card_names_the_shipped_weights_by_hash() -> None:
    card = yaml.safe_load(CARD.read_text(encoding="utf-8"))
    assert card["file"] == DEFAULT_MODEL.name
    assert hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest() == card["sha256"]


def test_the_card_classes_are_the_model_classes_and_all_in_the_taxonomy() -> None:
    from ultralytics import YOLO

    card = yaml.safe_load(CARD.read_text(encoding="utf-8"))
    names = {int(k): str(v) for k, v in YOLO(str(DEFAULT_MODEL), task="detect").names.items()}
    assert names == {int(k): str(v) for k, v in card["classes"].items()}
    taxonomy = load_taxonomy(DEFAULT_TAXONOMY)
    assert [n for n in names.values() if taxonomy.lookup(n) is None] == []


def test_the_card_reports_every_class_it_was_validated_on() -> None:
    card = yaml.safe_load(CARD.read_text(encoding="utf-8"))
    reported = set(card["metrics"]["per_class"]) - {"all"}
    validated = {name for name, count in card["data"]["instances"]["val"].items() if count}
    assert reported == validated
