"""What the labelling queue takes from each video: the policy, from the settings and the detector's model card.

The weak classes come from the card (``model.yaml``) next to the detector's weights: the classes whose
mAP50 in ``metrics.per_class`` is below ``settings.labelling.weak_map50``. A detector without a card, or a
card without per-class figures, has no known weak classes: only low-confidence detections are sampled.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from streetwatch.core.settings import Settings
from streetwatch.store.labelling_queue import LabellingPolicy

CARD_NAME = "model.yaml"
log = logging.getLogger(__name__)


def weak_classes_of(model_path: Path, threshold: float) -> dict[str, float]:
    """Classes with mAP50 below ``threshold`` on the card beside ``model_path``, with their mAP50."""
    card = model_path.parent / CARD_NAME
    if not card.is_file():
        return {}
    try:
        document: Any = yaml.safe_load(card.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        log.warning("model card %s unreadable (%s): no weak classes for the labelling queue", card, exc)
        return {}
    metrics = document.get("metrics") if isinstance(document, dict) else None
    per_class = metrics.get("per_class") if isinstance(metrics, dict) else None
    if not isinstance(per_class, dict):
        return {}
    weak: dict[str, float] = {}
    for name, figures in per_class.items():
        value = figures.get("map50") if isinstance(figures, dict) else None
        if isinstance(value, int | float) and value < threshold:
            weak[str(name)] = float(value)
    return weak


def labelling_policy(settings: Settings) -> LabellingPolicy:
    """The labelling queue's policy for a run with ``settings``."""
    options = settings.labelling
    return LabellingPolicy(share=options.share, min_per_video=options.min_per_video,
                           max_confidence=options.max_confidence,
                           weak_classes=weak_classes_of(settings.model_path, options.weak_map50))
