"""How the rules combine: each family rule owns its family; the baseline covers the rest."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from streetwatch.core.taxonomy import parse_taxonomy
from streetwatch.pipeline.rules import RuleContext, RuleParams, TaxonomyRule, default_rules, evaluate_rules
from streetwatch.pipeline.rules.ads import ADS_RULE_VERSION
from streetwatch.pipeline.rules.garbage import GARBAGE_RULE_VERSION
from streetwatch.pipeline.rules.parking import PARKING_RULE_VERSION
from streetwatch.pipeline.rules.stall import STALL_RULE_VERSION
from tests.pipeline.rules.builders import DEFAULT_TAXONOMY_RAW, OPEN_STREET, TAXONOMY, local_utc, observation

AT_0942 = local_utc(2025, 6, 6, 9, 42)


def test_default_rules_own_the_four_families_and_leave_the_rest_to_the_baseline() -> None:
    rules = default_rules(TAXONOMY)
    assert [(r.name, r.version) for r in rules] == [
        ("parking", PARKING_RULE_VERSION), ("stall", STALL_RULE_VERSION), ("garbage", GARBAGE_RULE_VERSION),
        ("ads", ADS_RULE_VERSION), ("taxonomy", "1")]
    assert (STALL_RULE_VERSION, GARBAGE_RULE_VERSION) == ("2", "2")   # issue 10: scenes, bins from garbage


@pytest.mark.parametrize("class_name", sorted(TAXONOMY.classes))
def test_without_zones_or_permits_every_class_gets_the_baseline_verdict(class_name: str) -> None:
    """Unconfigured, the family rules file exactly what the baseline would, once, saying why."""
    context = RuleContext(TAXONOMY)
    seen = observation(class_name, OPEN_STREET, time_utc=AT_0942)
    combined = evaluate_rules(default_rules(TAXONOMY), seen, context)
    baseline = TaxonomyRule().evaluate(seen, context)
    assert [(v.family, v.event_code) for v in combined] == [(v.family, v.event_code) for v in baseline]
    for violation in combined:
        assert violation.rule == violation.family
        assert violation.rule_version == {r.name: r.version for r in default_rules(TAXONOMY)}[violation.rule]


def test_a_family_the_city_adds_is_judged_by_the_baseline() -> None:
    raw = copy.deepcopy(DEFAULT_TAXONOMY_RAW)
    raw["families"]["works"] = {"name_zh": "施工", "name_en": "Road works"}
    raw["events"]["0701"] = {"family": "works", "name_zh": "违规施工", "name_en": "unauthorised works"}
    raw["classes"]["scaffold"] = {"role": "violation", "family": "works", "event": "0701"}
    taxonomy = parse_taxonomy(raw, "city taxonomy")
    (violation,) = evaluate_rules(default_rules(taxonomy), observation("scaffold", OPEN_STREET),
                                  RuleContext(taxonomy))
    assert (violation.rule, violation.event_code) == ("taxonomy", "0701")
    assert violation.extra["basis"] == "unverified"


def test_the_baseline_skips_the_families_it_is_told_to() -> None:
    context = RuleContext(TAXONOMY)
    assert TaxonomyRule(skip_families={"parking"}).evaluate(observation("car"), context) == []
    assert len(TaxonomyRule(skip_families={"parking"}).evaluate(observation("umbrella"), context)) == 1


@pytest.mark.parametrize("text", ["off", "None", "null"])
def test_the_overstay_check_can_be_turned_off_from_the_environment(text: str) -> None:
    assert RuleParams.model_validate({"parking_overstay_minutes": text}).parking_overstay_minutes is None
    assert RuleParams.model_validate({"parking_overstay_minutes": "45"}).parking_overstay_minutes == 45.0


@pytest.mark.parametrize(("values", "message"), [
    ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"ads_match_radius_m": 0}, "greater than 0"),
    ({"garbage_full_level": 1.5}, "less than or equal to 1"),
    ({"parking_overstay_radius": 5}, "Extra inputs are not permitted"),
])
def test_rule_params_are_validated(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RuleParams.model_validate(values)
