"""The ads rule: licences of compatible classes within R metres, valid on the day."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from streetwatch.core.permits import PermitRegistry, load_permits
from streetwatch.core.types import LocationStatus
from streetwatch.pipeline.rules import AdsRule, RuleContext, RuleParams
from streetwatch.pipeline.rules.ads import ADS_RULE_VERSION
from tests.pipeline.rules.builders import SAMPLE_PERMITS, TAXONOMY, local_utc, moved, observation

PERMITS = load_permits(SAMPLE_PERMITS, TAXONOMY)
SIGN = (31.23050, 121.47380)          # HP-ZP-2024-0001 shop_sign, 2024-01-01..2026-12-31
BANNER = (31.23030, 121.47560)        # HP-HF-2023-0107 banner, 2023-05-01..2023-10-31
BOARD = (31.23010, 121.47300)         # HP-LD-2025-0033 ad_board, no dates
JUNE_2025 = local_utc(2025, 6, 6, 9, 42)
SOUTH_20M = moved(SIGN, north_m=-20.0)
EAST_5M = moved(SIGN, east_m=5.0)
NORTH_OF_BANNER = moved(BANNER, north_m=5.0)


def _place(point: tuple[float, float]) -> str:
    return f"at {point[0]:.6f}, {point[1]:.6f} (6 m from the camera) at 09:42"


@dataclass(frozen=True)
class Case:
    name: str
    class_name: str
    at: tuple[float, float] | None
    time_utc: float | None = JUNE_2025
    status: LocationStatus = LocationStatus.GEOLOCATED
    permits: PermitRegistry | None = PERMITS
    uncertainty_m: float | None = None
    params: RuleParams = field(default_factory=RuleParams)
    basis: str | None = None      # None: no violation expected
    reason: str = ""              # the whole reason, or a part of it for "unverified"


CASES = [
    Case("shop sign 10 m from its licence", "shop_sign", moved(SIGN, east_m=10.0)),
    Case("shop sign 20 m from any licence", "shop_sign", SOUTH_20M, basis="no_licence",
         reason=f"shop sign with no licensed signboard within 15 m, {_place(SOUTH_20M)}"),
    Case("a licence within the position's uncertainty is named", "shop_sign", SOUTH_20M, uncertainty_m=8.0,
         basis="no_licence",
         reason=f"shop sign with no licensed signboard within 15 m, {_place(SOUTH_20M)}; licence "
                "'HP-ZP-2024-0001' ('老凤祥银楼 shop sign') is 20 m away, within the position's uncertainty "
                "(about 8 m)"),
    Case("a wider radius finds it", "shop_sign", SOUTH_20M, params=RuleParams(ads_match_radius_m=25.0)),
    Case("projecting sign under a shop-sign licence", "projecting_sign", moved(SIGN, east_m=10.0)),
    Case("window ad by a shop-sign licence", "window_ad", EAST_5M, basis="no_licence",
         reason=f"window ad with no licensed window ad within 15 m, {_place(EAST_5M)}"),
    Case("banner whose licence lapsed", "banner", NORTH_OF_BANNER, basis="no_licence",
         reason=f"banner with no licensed banner within 15 m, {_place(NORTH_OF_BANNER)}; licence "
                "'HP-HF-2023-0107' ('Spring sale banner', 5 m away) is valid 2023-05-01 to 2023-10-31 only"),
    Case("banner while its licence ran", "banner", NORTH_OF_BANNER,
         time_utc=local_utc(2023, 7, 1, 12, 0)),
    Case("banner, time unknown: dates not checked", "banner", NORTH_OF_BANNER, time_utc=None),
    Case("ad board without dates", "ad_board", moved(BOARD, east_m=-5.0)),
    Case("no registry configured", "shop_sign", SOUTH_20M, permits=None, basis="unverified",
         reason="no permit registry configured: licences not checked"),
    Case("camera position only", "shop_sign", SOUTH_20M, status=LocationStatus.CAMERA, basis="unverified",
         reason="object's own position not measured, only the camera's: licences not checked"),
    Case("location unknown", "small_ad", None, basis="unverified",
         reason="location unknown: licences not checked"),
    Case("a car is no ad", "car", SOUTH_20M),
    Case("a person is no ad", "person", SOUTH_20M),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ads_rule(case: Case) -> None:
    context = RuleContext(TAXONOMY, permits=case.permits, params=case.params)
    seen = observation(case.class_name, case.at, status=case.status, time_utc=case.time_utc,
                       uncertainty_m=case.uncertainty_m)
    found = AdsRule().evaluate(seen, context)
    if case.basis is None:
        assert found == []
        return
    (violation,) = found
    spec = TAXONOMY.lookup(case.class_name)
    assert spec is not None
    assert (violation.family, violation.event_code, violation.extra["basis"]) == ("ads", spec.event_code,
                                                                                 case.basis)
    assert (violation.rule, violation.rule_version) == ("ads", ADS_RULE_VERSION)
    if case.basis == "unverified":
        assert case.reason in violation.reason
    else:
        assert violation.reason == case.reason


def test_a_lapsed_licence_is_recorded() -> None:
    seen = observation("banner", NORTH_OF_BANNER, time_utc=JUNE_2025)
    (violation,) = AdsRule().evaluate(seen, RuleContext(TAXONOMY, permits=PERMITS))
    assert violation.extra == {"basis": "no_licence", "lapsed_licence_id": "HP-HF-2023-0107"}


@pytest.mark.parametrize(("class_name", "attributes", "basis"), [
    ("small_ad", {"text": "疏通下水道13812345678", "phones": "13812345678", "found_by": "ocr_text"}, "text"),
    ("banner", {"text": "创建全国文明城市", "ad_text_reason": "aspect 8.1, 90% saturated"}, "text"),
    ("small_ad", {}, "unverified"),                       # a detector's small ad, nothing read on it
    ("shop_sign", {"text": "老王面馆"}, "unverified"),    # a signboard's text does not make it illegal
])
def test_a_banner_or_small_ad_whose_text_was_read_is_a_violation_by_itself(
        class_name: str, attributes: dict[str, str], basis: str) -> None:
    seen = replace(observation(class_name, None, time_utc=local_utc(2025, 6, 6, 9, 42)), attributes=attributes)
    (violation,) = AdsRule().evaluate(seen, RuleContext(TAXONOMY))
    assert violation.extra["basis"] == basis
    threshold = RuleParams().queue_threshold("ads")
    assert (violation.priority >= threshold) is (basis == "text")
    if "phones" in attributes:
        assert "reading '疏通下水道13812345678' (phone 13812345678)" in violation.reason
