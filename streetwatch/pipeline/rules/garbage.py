"""Garbage: garbage classes (exposed garbage, overflowing bins, piled materials) and bins judged full.

A bin is judged full from a ``fill_level`` attribute on the observation. The run sets it from
what the model sees (``pipeline/bin_fill.py``: garbage piles or trash bags on, against or around
the bin, with ``fill_evidence`` saying what was seen); a city's own fill-level classifier may set
it too. Accepted values: a number (fraction, 0..1; above 1 means overflowing), a percentage
string ``"85%"``, or a label (``empty``, ``low``, ``half``, ``high``, ``full``, ``overflowing``).
Garbage that the bin judgement counted as the bin's (attribute ``at_bin``) is part of the bin's
case and files nothing by itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from streetwatch.core.types import Observation, Violation
from streetwatch.pipeline.rules.base import RuleContext
from streetwatch.pipeline.rules.reasons import class_of, describe_place, judged, label, when

GARBAGE_RULE_VERSION = "2"
FAMILY = "garbage"
FILL_LABELS = {"empty": 0.0, "low": 0.25, "half": 0.5, "high": 0.75, "full": 1.0, "overflowing": 1.25}


def fill_level(observation: Observation) -> float | None:
    """The bin fill level (fraction, 1.0 = full) from the observation's attributes, or None if absent."""
    attributes = observation.attributes
    value = attributes.get("fill_level") if isinstance(attributes, Mapping) else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in FILL_LABELS:
            return FILL_LABELS[text]
        try:
            value = float(text.removesuffix("%")) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


class GarbageRule:
    """Files garbage-family violation classes, and bins whose fill level reaches the threshold."""

    name = "garbage"
    version = GARBAGE_RULE_VERSION

    def evaluate(self, observation: Observation, context: RuleContext) -> list[Violation]:
        spec = class_of(observation, context, FAMILY)
        if spec is None or observation.attributes.get("at_bin"):
            return []
        level = fill_level(observation)
        threshold = context.params.garbage_full_level
        where = f"{describe_place(observation)} {when(observation, context.params.zoneinfo)}"
        extra = {"fill_level": f"{level:.2f}"} if level is not None else {}
        if spec.role == "violation":
            event = context.taxonomy.event_for(spec)
            if event is None:
                return []
            note = f" (fill-level classifier: {level:.0%})" if level is not None else ""
            return [judged(observation, context, spec, event, rule=self.name, version=self.version,
                           reason=f"{label(spec.name)}{note} {where}", basis="class", extra=extra)]
        full_bin_class = context.taxonomy.full_bin_class  # models/taxonomy.yaml: full_bin_class
        full_bin = context.taxonomy.classes.get(full_bin_class) if full_bin_class is not None else None
        event = context.taxonomy.event_for(full_bin) if full_bin is not None else None
        if level is None or level < threshold or event is None:
            return []
        seen = observation.attributes.get("fill_evidence")
        if seen:   # judged from garbage the model saw at the bin
            return [judged(observation, context, spec, event, rule=self.name, version=self.version,
                           reason=f"{label(spec.name)} overflowing: {seen} {where}", basis="garbage_at_bin",
                           extra={**extra, "fill_evidence": str(seen)})]
        return [judged(observation, context, spec, event, rule=self.name, version=self.version,
                       reason=f"{label(spec.name)} judged full (fill level {level:.0%}, threshold "
                       f"{threshold:.0%}) {where}", basis="fill_level", extra=extra)]
