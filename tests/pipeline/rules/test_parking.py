"""The parking rule: no-parking zones, the overstay chalk mark, and honest fallbacks."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from streetwatch.core.types import LocationStatus
from streetwatch.core.zones import load_zones
from streetwatch.pipeline.rules import InMemorySightingHistory, ParkingRule, PastSighting, RuleContext, RuleParams
from streetwatch.pipeline.rules.parking import PARKING_RULE_VERSION
from tests.pipeline.rules.builders import (
    BUS_STOP_CENTRE,
    OPEN_STREET,
    SAMPLE_ZONES,
    TAXONOMY,
    local_utc,
    moved,
    observation,
)

ZONES = load_zones([SAMPLE_ZONES])
AT_0942 = local_utc(2025, 6, 6, 9, 42)
AT_0901 = local_utc(2025, 6, 6, 9, 1)
NEAR_OPEN_STREET = moved(OPEN_STREET, north_m=3.0)
NEAR_BUS_STOP = moved(BUS_STOP_CENTRE, east_m=-2.0)
CAR_AT_0901 = (("car", AT_0901, NEAR_OPEN_STREET),)
EIGHT_M_EAST = moved(OPEN_STREET, east_m=8.0)


@dataclass(frozen=True)
class Case:
    name: str
    class_name: str = "car"
    at: tuple[float, float] | None = BUS_STOP_CENTRE
    status: LocationStatus = LocationStatus.GEOLOCATED
    time_utc: float | None = AT_0942
    earlier: tuple[tuple[str, float, tuple[float, float]], ...] = ()   # (class, t_utc, where)
    zones: bool = True
    history: bool = True
    params: RuleParams = field(default_factory=RuleParams)
    uncertainty_m: float | None = None
    event: str | None = None        # None: no violation expected
    basis: str = ""
    reason: str = ""                # the whole reason, or a part of it for candidates
    not_in_reason: str = "\x00"


CASES = [
    Case("car in the bus stop", event="0508", basis="no_parking_zone",
         reason="car parked 9 m inside no-parking zone 'Bus stop, Renmin Rd' at 09:42"),
    Case("bicycle in the bus stop", class_name="bicycle", event="0509", basis="no_parking_zone",
         reason="bicycle parked 9 m inside no-parking zone 'Bus stop, Renmin Rd' at 09:42"),
    Case("truck on the bus stop's edge", class_name="truck", at=moved(BUS_STOP_CENTRE, north_m=8.5),
         event="0508", basis="no_parking_zone",
         reason="truck parked less than 1 m inside no-parking zone 'Bus stop, Renmin Rd' at 09:42"),
    Case("car just outside the bus stop", at=moved(BUS_STOP_CENTRE, north_m=9.5)),
    Case("3 m inside, position uncertain by 6 m: said", at=moved(BUS_STOP_CENTRE, north_m=6.0),
         uncertainty_m=6.0, event="0508", basis="no_parking_zone",
         reason="car parked 3 m inside no-parking zone 'Bus stop, Renmin Rd' at 09:42 (position uncertain by "
                "about 6 m)"),
    Case("9 m inside, uncertain by 2 m: no need to say", uncertainty_m=2.0, event="0508",
         basis="no_parking_zone",
         reason="car parked 9 m inside no-parking zone 'Bus stop, Renmin Rd' at 09:42"),
    Case("car in the open street", at=OPEN_STREET),
    Case("car seen 41 min before at the same spot", at=OPEN_STREET,
         earlier=CAR_AT_0901, event="0508", basis="overstay",
         reason="car at the same spot 41 min after the first sighting (09:01, 09:42)"),
    Case("stored under another spelling", at=OPEN_STREET, earlier=(("Car", AT_0901, NEAR_OPEN_STREET),),
         event="0508", basis="overstay",
         reason="car at the same spot 41 min after the first sighting (09:01, 09:42)"),
    Case("seen as a truck before: same vehicle", at=OPEN_STREET,
         earlier=(("truck", AT_0901, NEAR_OPEN_STREET),), event="0508", basis="overstay",
         reason="car at the same spot 41 min after the first sighting (09:01, 09:42)"),
    Case("the first of several earlier sightings counts", at=OPEN_STREET,
         earlier=(("car", local_utc(2025, 6, 6, 9, 20), OPEN_STREET), ("car", AT_0901, NEAR_OPEN_STREET)),
         event="0508", basis="overstay",
         reason="car at the same spot 41 min after the first sighting (09:01, 09:42)"),
    Case("a bicycle before is another vehicle", at=OPEN_STREET,
         earlier=(("bicycle", AT_0901, NEAR_OPEN_STREET),)),
    Case("8 m away is another spot", at=OPEN_STREET, earlier=(("car", AT_0901, EIGHT_M_EAST),)),
    Case("20 min is not an overstay", at=OPEN_STREET,
         earlier=(("car", local_utc(2025, 6, 6, 9, 22), NEAR_OPEN_STREET),)),
    Case("yesterday is another parking event", at=OPEN_STREET,
         earlier=(("car", AT_0901 - 86_400.0, NEAR_OPEN_STREET),)),
    Case("overstay turned off", at=OPEN_STREET, earlier=CAR_AT_0901,
         params=RuleParams(parking_overstay_minutes=None)),
    Case("a wider spot radius", at=OPEN_STREET, earlier=(("car", AT_0901, EIGHT_M_EAST),),
         params=RuleParams(parking_overstay_radius_m=10.0), event="0508", basis="overstay",
         reason="car at the same spot 41 min after the first sighting (09:01, 09:42)"),
    Case("in the zone and overstaying", earlier=(("car", AT_0901, NEAR_BUS_STOP),), event="0508",
         basis="no_parking_zone+overstay",
         reason="car parked 9 m inside no-parking zone 'Bus stop, Renmin Rd' at 09:42; "
                "car at the same spot 41 min after the first sighting (09:01, 09:42)"),
    Case("time unknown: the zone still decides", time_utc=None, earlier=(("car", AT_0901, NEAR_BUS_STOP),),
         event="0508", basis="no_parking_zone",
         reason="car parked 9 m inside no-parking zone 'Bus stop, Renmin Rd' at an unknown time "
                "(10.2 s into the video)"),
    Case("location unknown", at=None, event="0508", basis="unverified",
         reason="location unknown: no-parking zones and overstay not checked", not_in_reason="inside"),
    Case("camera position inside the bus stop", status=LocationStatus.CAMERA, event="0508",
         basis="unverified",
         reason="the patrol car was inside no-parking zone 'Bus stop, Renmin Rd'", not_in_reason="parked"),
    Case("camera position in the open street", at=OPEN_STREET, status=LocationStatus.CAMERA, event="0508",
         basis="unverified", reason="no-parking zones and overstay not checked"),
    Case("no zones configured", at=OPEN_STREET, zones=False, event="0508", basis="unverified",
         reason="no zones configured: no-parking zones not checked"),
    Case("no zones, but an overstay", at=OPEN_STREET, zones=False, earlier=CAR_AT_0901,
         event="0508", basis="overstay",
         reason="car at the same spot 41 min after the first sighting (09:01, 09:42)"),
    Case("no history configured", at=OPEN_STREET, history=False, earlier=CAR_AT_0901),
    Case("a person is not parked", class_name="person"),
    Case("a shop sign is not parked", class_name="shop_sign"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_parking_rule(case: Case) -> None:
    history = InMemorySightingHistory(("parking", PastSighting(t, lat, lon, cls, video_id=7))
                                      for cls, t, (lat, lon) in case.earlier)
    context = RuleContext(TAXONOMY, zones=ZONES if case.zones else None,
                          history=history if case.history else None, params=case.params)
    seen = observation(case.class_name, case.at, status=case.status, time_utc=case.time_utc,
                       uncertainty_m=case.uncertainty_m)
    found = ParkingRule().evaluate(seen, context)
    if case.event is None:
        assert found == []
        return
    (violation,) = found
    assert (violation.event_code, violation.family, violation.extra["basis"]) == (case.event, "parking",
                                                                                   case.basis)
    assert (violation.rule, violation.rule_version) == ("parking", PARKING_RULE_VERSION)
    if case.basis == "unverified":
        assert case.reason in violation.reason
    else:
        assert violation.reason == case.reason
    assert case.not_in_reason not in violation.reason


def test_violations_carry_routing_and_evidence_details() -> None:
    history = InMemorySightingHistory([("parking", PastSighting(AT_0901, *NEAR_BUS_STOP, "car", video_id=7))])
    (violation,) = ParkingRule().evaluate(observation("car", time_utc=AT_0942),
                                          RuleContext(TAXONOMY, zones=ZONES, history=history))
    assert violation.extra == {
        "basis": "no_parking_zone+overstay", "grid_id": "310101-0101", "grid_name": "Renmin Rd west cell",
        "unit": "外滩街道城管执法中队", "unit_id": "HP-WT-01", "zone_id": "np-renmin-bus-stop",
        "zone_name": "Bus stop, Renmin Rd", "inside_m": "8.9", "first_seen_utc": f"{AT_0901:.3f}",
        "overstay_min": "41", "first_seen_video_id": "7"}


def test_local_time_follows_the_configured_timezone() -> None:
    history = InMemorySightingHistory([("parking", PastSighting(AT_0901, *NEAR_OPEN_STREET, "car"))])
    context = RuleContext(TAXONOMY, history=history, params=RuleParams(timezone="UTC"))
    (violation,) = ParkingRule().evaluate(observation("car", OPEN_STREET, time_utc=AT_0942), context)
    assert violation.reason == "car at the same spot 41 min after the first sighting (01:01, 01:42)"


def test_history_only_answers_for_its_family_and_the_past() -> None:
    history = InMemorySightingHistory([
        ("parking", PastSighting(AT_0901, *OPEN_STREET, "car")),
        ("stall", PastSighting(AT_0901, *OPEN_STREET, "umbrella")),
        ("parking", PastSighting(AT_0942, *OPEN_STREET, "car")),
        ("parking", PastSighting(AT_0901 - 60, *moved(OPEN_STREET, north_m=6.0), "car")),
    ])
    found = history.previous_sightings("parking", *OPEN_STREET, radius_m=5.0, before_utc=AT_0942)
    assert [(s.class_name, s.t_utc) for s in found] == [("car", AT_0901)]
