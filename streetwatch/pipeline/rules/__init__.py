"""City rules: each judges an observation and returns the violations it finds.

One small class per rule, one verb: ``Rule.evaluate(observation, context) -> list[Violation]``.

How the rules combine (``default_rules``): each family rule owns its taxonomy family entirely
(parking, stall, garbage, ads); where it cannot check its conditions (no zones or registry
configured, no position, no time) it files the baseline candidate itself and says why in the
reason. The baseline :class:`TaxonomyRule` then covers only the families no family rule owns
(a family a city adds to the taxonomy), so every observation is judged by exactly one rule and
yields at most one violation.
"""

from __future__ import annotations

from streetwatch.core.history import InMemorySightingHistory, PastSighting, SightingHistory
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.types import Observation, Violation
from streetwatch.pipeline.rules.ads import AdsRule
from streetwatch.pipeline.rules.base import Rule, RuleContext, RuleParams
from streetwatch.pipeline.rules.garbage import GarbageRule
from streetwatch.pipeline.rules.parking import ParkingRule
from streetwatch.pipeline.rules.stall import StallRule
from streetwatch.pipeline.rules.taxonomy_rule import TaxonomyRule

FAMILY_RULES: dict[str, type[Rule]] = {
    "parking": ParkingRule, "stall": StallRule, "garbage": GarbageRule, "ads": AdsRule}


def default_rules(taxonomy: Taxonomy) -> list[Rule]:
    """The family rules for the taxonomy's families, then the baseline for the families none owns."""
    owned = [family for family in FAMILY_RULES if family in taxonomy.families]
    return [*(FAMILY_RULES[family]() for family in owned), TaxonomyRule(skip_families=owned)]


def evaluate_rules(rules: list[Rule], observation: Observation, context: RuleContext) -> list[Violation]:
    """Every rule's violations for one observation, in rule order."""
    return [violation for rule in rules for violation in rule.evaluate(observation, context)]


__all__ = ["FAMILY_RULES", "AdsRule", "GarbageRule", "InMemorySightingHistory", "ParkingRule",
           "PastSighting", "Rule", "RuleContext", "RuleParams", "SightingHistory", "StallRule",
           "TaxonomyRule", "default_rules", "evaluate_rules"]
