"""The garbage rule: garbage classes, and bins judged full by a fill level."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from streetwatch.core.taxonomy import Taxonomy, parse_taxonomy
from streetwatch.core.types import Observation
from streetwatch.core.zones import load_zones
from streetwatch.pipeline.rules import GarbageRule, RuleContext, RuleParams
from streetwatch.pipeline.rules.garbage import GARBAGE_RULE_VERSION, fill_level
from tests.pipeline.rules.builders import DEFAULT_TAXONOMY_RAW, OPEN_STREET, SAMPLE_ZONES, TAXONOMY, local_utc
from tests.pipeline.rules.builders import observation as plain_observation

AT_0942 = local_utc(2025, 6, 6, 9, 42)


def observation(class_name: str, attributes: dict[str, Any] | None = None,
                at: tuple[float, float] | None = OPEN_STREET) -> Observation:
    base = plain_observation(class_name, at, time_utc=AT_0942)
    if attributes is None:
        return base
    return replace(base, attributes=attributes)


def _without_overflowing_bin() -> Taxonomy:
    raw = copy.deepcopy(DEFAULT_TAXONOMY_RAW)
    del raw["classes"]["overflowing_bin"]
    del raw["full_bin_class"]  # a city without the class names no class to file full bins as
    return parse_taxonomy(raw, "test taxonomy")


PLACE = "at 31.231000, 121.473000 (6 m from the camera) at 09:42"
CASES: list[tuple[str, str, dict[str, Any] | None, RuleParams, Taxonomy, str | None, str]] = [
    ("garbage pile", "garbage_pile", None, RuleParams(), TAXONOMY, "0101", f"garbage pile {PLACE}"),
    ("material pile", "material_pile", None, RuleParams(), TAXONOMY, "0103", f"material pile {PLACE}"),
    ("overflowing bin", "overflowing_bin", None, RuleParams(), TAXONOMY, "0102", f"overflowing bin {PLACE}"),
    ("detector and classifier disagree: said plainly", "overflowing_bin", {"fill_level": 0.4}, RuleParams(),
     TAXONOMY, "0102", f"overflowing bin (fill-level classifier: 40%) {PLACE}"),
    ("a bin without a fill level", "bin", None, RuleParams(), TAXONOMY, None, ""),
    ("a bin at 90%", "bin", {"fill_level": 0.9}, RuleParams(), TAXONOMY, "0102",
     f"bin judged full (fill level 90%, threshold 80%) {PLACE}"),
    ("a bin labelled full", "bin", {"fill_level": "full"}, RuleParams(), TAXONOMY, "0102",
     f"bin judged full (fill level 100%, threshold 80%) {PLACE}"),
    ("a bin at '85%'", "bin", {"fill_level": "85%"}, RuleParams(), TAXONOMY, "0102",
     f"bin judged full (fill level 85%, threshold 80%) {PLACE}"),
    ("a bin exactly at the threshold", "bin", {"fill_level": 0.8}, RuleParams(), TAXONOMY, "0102",
     f"bin judged full (fill level 80%, threshold 80%) {PLACE}"),
    ("a half-full bin", "bin", {"fill_level": "half"}, RuleParams(), TAXONOMY, None, ""),
    ("a bin at 85% under a stricter threshold", "bin", {"fill_level": 0.85},
     RuleParams(garbage_full_level=0.9), TAXONOMY, None, ""),
    ("a fill level that means nothing", "bin", {"fill_level": "brimming"}, RuleParams(), TAXONOMY, None, ""),
    ("a full bin with no event to file it under", "bin", {"fill_level": 1.0}, RuleParams(),
     _without_overflowing_bin(), None, ""),
    ("a car is not garbage", "car", {"fill_level": 1.0}, RuleParams(), TAXONOMY, None, ""),
]


@pytest.mark.parametrize(("class_name", "attributes", "params", "taxonomy", "event", "reason"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_garbage_rule(class_name: str, attributes: dict[str, Any] | None, params: RuleParams,
                      taxonomy: Taxonomy, event: str | None, reason: str) -> None:
    found = GarbageRule().evaluate(observation(class_name, attributes), RuleContext(taxonomy, params=params))
    if event is None:
        assert found == []
        return
    (violation,) = found
    assert (violation.family, violation.event_code, violation.reason) == ("garbage", event, reason)
    assert (violation.rule, violation.rule_version) == ("garbage", GARBAGE_RULE_VERSION)
    assert violation.extra["basis"] == ("fill_level" if class_name == "bin" else "class")


def test_location_unknown_is_said_and_routing_added_when_known() -> None:
    rule = GarbageRule()
    (lost,) = rule.evaluate(observation("garbage_pile", at=None), RuleContext(TAXONOMY))
    assert lost.reason == "garbage pile location unknown (no GPS fix at that time) at 09:42"
    zones = load_zones([SAMPLE_ZONES])
    (routed,) = rule.evaluate(observation("garbage_pile"), RuleContext(TAXONOMY, zones=zones))
    assert (routed.extra["grid_id"], routed.extra["unit"]) == ("310101-0101", "外滩街道城管执法中队")


@pytest.mark.parametrize(("attributes", "expected"), [
    (None, None), ({}, None), ({"fill_level": 0.5}, 0.5), ({"fill_level": 1}, 1.0),
    ({"fill_level": 1.3}, 1.3),
    ({"fill_level": "75%"}, 0.75), ({"fill_level": " Overflowing "}, 1.25), ({"fill_level": "0.6"}, 0.6),
    ({"fill_level": -0.1}, None), ({"fill_level": float("nan")}, None), ({"fill_level": True}, None),
    ({"fill_level": "x%"}, None), ({"fill_level": [1]}, None),
])
def test_fill_level(attributes: dict[str, Any] | None, expected: float | None) -> None:
    assert fill_level(observation("bin", attributes)) == expected
