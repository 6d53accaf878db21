"""The stall rule: permitted vending zones and hours, no-vending zones, supporting evidence."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from streetwatch.core.types import LocationStatus, Observation
from streetwatch.core.zones import ZoneIndex, load_zones, parse_zones
from streetwatch.pipeline.rules import RuleContext, RuleParams, StallRule
from streetwatch.pipeline.rules.stall import STALL_RULE_VERSION
from tests.pipeline.rules.builders import (
    MARKET_CENTRE,
    NO_VENDING_POINT,
    OPEN_STREET,
    SAMPLE_ZONES,
    TAXONOMY,
    collection,
    feature,
    local_utc,
    moved,
    observation,
    rectangle,
)

SAMPLE = load_zones([SAMPLE_ZONES])
# A Friday-night market (18:00-02:00) inside a street where vending is otherwise forbidden.
OVERLAP = ZoneIndex(parse_zones(collection(
    feature({"kind": "no_vending", "id": "nv", "name": "Fuxing Rd"},
            rectangle(31.2200, 121.4600, 31.2210, 121.4620)),
    feature({"kind": "permitted_vending", "id": "pv", "name": "Friday market", "hours": "18:00-02:00",
             "weekdays": "fri"}, rectangle(31.2203, 121.4605, 31.2207, 121.4615)),
)))
IN_OVERLAP = (31.2205, 121.4610)
FRI = (2025, 6, 6)


@dataclass(frozen=True)
class Case:
    name: str
    class_name: str = "umbrella"
    at: tuple[float, float] | None = OPEN_STREET
    status: LocationStatus = LocationStatus.GEOLOCATED
    time_utc: float | None = local_utc(*FRI, 12, 0)
    nearby: tuple[tuple[str, tuple[float, float]], ...] = ()
    zones: ZoneIndex | None = SAMPLE
    params: RuleParams = field(default_factory=RuleParams)
    basis: str | None = None        # None: no violation expected
    reason: str = ""                # the whole reason, or a part of it for "unverified"


CASES = [
    Case("umbrella in the market during its hours", at=MARKET_CENTRE, time_utc=local_utc(*FRI, 9, 42)),
    Case("evening hours too", class_name="dining_table", at=MARKET_CENTRE, time_utc=local_utc(*FRI, 18, 30)),
    Case("umbrella in the market at noon", at=MARKET_CENTRE, basis="outside_permitted_hours",
         reason="umbrella in permitted vending zone 'Renmin Rd night market' at 12:00, outside its hours "
                "07:00-10:00,17:00-21:00"),
    Case("table on the no-vending pavement", class_name="dining_table", at=NO_VENDING_POINT,
         time_utc=local_utc(*FRI, 18, 30), basis="no_vending_zone",
         reason="dining table 22 m inside no-vending zone 'Renmin Rd pavement (no vending)' at 18:30"),
    Case("stall in the open street", class_name="stall", basis="not_permitted_zone",
         reason="stall outside every permitted vending zone, at 31.231000, 121.473000 at 12:00"),
    Case("with people and a chair around", nearby=(
        ("person", moved(OPEN_STREET, east_m=3.0)), ("person", moved(OPEN_STREET, north_m=-6.0)),
        ("chair", moved(OPEN_STREET, east_m=1.0)), ("person", moved(OPEN_STREET, east_m=30.0)),
        ("car", moved(OPEN_STREET, east_m=2.0))),
         basis="not_permitted_zone",
         reason="umbrella outside every permitted vending zone, at 31.231000, 121.473000 at 12:00, with "
                "1 chair, 2 people within 10 m"),
    Case("support required and missing", params=RuleParams(stall_min_support=1),
         nearby=(("person", moved(OPEN_STREET, east_m=30.0)),)),
    Case("support required and present", params=RuleParams(stall_min_support=1),
         nearby=(("bench", moved(OPEN_STREET, east_m=4.0)),), basis="not_permitted_zone",
         reason="umbrella outside every permitted vending zone, at 31.231000, 121.473000 at 12:00, with "
                "1 bench within 10 m"),
    Case("a chair alone is evidence, not a stall", class_name="chair"),
    Case("a person alone is evidence, not a stall", class_name="person", at=NO_VENDING_POINT),
    Case("a car is not a stall", class_name="car", at=NO_VENDING_POINT),
    Case("time unknown inside the market", at=MARKET_CENTRE, time_utc=None, basis="unverified",
         reason="umbrella inside permitted vending zone 'Renmin Rd night market' (hours "
                "07:00-10:00,17:00-21:00) at an unknown time (10.2 s into the video): cannot tell whether it "
                "was open"),
    Case("time unknown outside any zone", time_utc=None, basis="not_permitted_zone",
         reason="umbrella outside every permitted vending zone, at 31.231000, 121.473000 at an unknown time "
                "(10.2 s into the video)"),
    Case("location unknown", at=None, basis="unverified",
         reason="location unknown: vending zones and hours not checked"),
    Case("camera position only", status=LocationStatus.CAMERA, at=MARKET_CENTRE, basis="unverified",
         reason="object's own position not measured, only the camera's"),
    Case("no zones configured", zones=None, nearby=(("person", moved(OPEN_STREET, east_m=3.0)),),
         basis="unverified", reason="no zones configured: vending zones and hours not checked, with 1 person "
                                    "within 10 m"),
    Case("no zones, a strong scene: umbrella, chair and people placed around it", zones=None, nearby=(
        ("person", moved(OPEN_STREET, east_m=3.0)), ("chair", moved(OPEN_STREET, east_m=1.0))),
         basis="stall_scene", reason="umbrella seen for 0 s, with 1 chair, 1 person within 10 m: a stall scene "
                                      "at 12:00; no zones configured: vending zones and hours not checked"),
    Case("no zones, chairs and a table but nobody standing by: not a scene", zones=None, nearby=(
        ("chair", moved(OPEN_STREET, east_m=1.0)), ("dining_table", moved(OPEN_STREET, east_m=2.0))),
         basis="unverified", reason="no zones configured: vending zones and hours not checked, with 1 chair, "
                                    "1 dining table within 10 m"),
    Case("location unknown, a scene in the same frames", at=None, nearby=(
        ("person", None), ("dining_table", None)), basis="stall_scene",
         reason="umbrella seen for 0 s, with 1 dining table, 1 person around it in the same frames: a stall "
                "scene at 12:00; location unknown: vending zones and hours not checked"),
    Case("Friday market open on Friday night", at=IN_OVERLAP, zones=OVERLAP,
         time_utc=local_utc(*FRI, 23, 0)),
    Case("and in Saturday's small hours", at=IN_OVERLAP, zones=OVERLAP,
         time_utc=local_utc(2025, 6, 7, 1, 30)),
    Case("closed on Sunday's small hours: the no-vending street applies", at=IN_OVERLAP, zones=OVERLAP,
         time_utc=local_utc(2025, 6, 8, 1, 30), basis="no_vending_zone",
         reason="umbrella 55 m inside no-vending zone 'Fuxing Rd' at 01:30, outside the hours of permitted "
                "vending zone 'Friday market' (18:00-02:00 on fri)"),
]


def _nearby(case: Case) -> tuple[Observation, ...]:
    return tuple(observation(cls, at, track_id=100 + i, time_utc=case.time_utc)
                 for i, (cls, at) in enumerate(case.nearby))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_stall_rule(case: Case) -> None:
    seen = observation(case.class_name, case.at, status=case.status, time_utc=case.time_utc)
    context = RuleContext(TAXONOMY, zones=case.zones, params=case.params, nearby=(seen, *_nearby(case)))
    found = StallRule().evaluate(seen, context)
    if case.basis is None:
        assert found == []
        return
    (violation,) = found
    assert (violation.family, violation.event_code, violation.extra["basis"]) == ("stall", "0502", case.basis)
    assert (violation.rule, violation.rule_version) == ("stall", STALL_RULE_VERSION)
    if case.basis == "unverified":
        assert case.reason in violation.reason
    else:
        assert violation.reason == case.reason


def test_supporting_counts_and_zone_are_recorded() -> None:
    seen = observation("umbrella", NO_VENDING_POINT, time_utc=local_utc(*FRI, 12, 0))
    # the same track id as the stall: the tracker's own object, not a helper
    twin = observation("person", moved(NO_VENDING_POINT, east_m=2.0), track_id=seen.track_id)
    helpers = (observation("person", moved(NO_VENDING_POINT, east_m=2.0), track_id=8),
               observation("chair", moved(NO_VENDING_POINT, north_m=2.0), track_id=9))
    (violation,) = StallRule().evaluate(seen, RuleContext(TAXONOMY, zones=SAMPLE, nearby=(twin, *helpers)))
    assert violation.extra == {
        "basis": "no_vending_zone", "grid_id": "310101-0102", "grid_name": "Renmin Rd east cell",
        "unit": "豫园街道城管执法中队", "unit_id": "HP-YY-02", "zone_id": "nv-renmin-pavement",
        "zone_name": "Renmin Rd pavement (no vending)", "nearby_chair": "1", "nearby_person": "1"}


def _walking(person: Observation) -> Observation:
    """The person's box crosses the frame while the umbrella's stays: a passer-by."""
    points = tuple(replace(p, xyxy=(100.0 + 150 * i, 200.0, 140.0 + 150 * i, 300.0))
                   for i, p in enumerate(person.points))
    return replace(person, points=points, best=points[0])


def test_a_passer_by_in_the_same_frames_is_no_support() -> None:
    seen = observation("umbrella", None, time_utc=local_utc(*FRI, 12, 0))
    chair = observation("chair", None, track_id=8)
    walker = _walking(observation("person", None, track_id=9))
    (violation,) = StallRule().evaluate(seen, RuleContext(TAXONOMY, nearby=(seen, chair, walker)))
    assert violation.extra["basis"] == "unverified"
    assert "with 1 chair around it in the same frames" in violation.reason


def test_a_strong_scene_enters_the_queue_and_a_weak_one_stays_out() -> None:
    seen = observation("umbrella", None, time_utc=local_utc(*FRI, 12, 0))
    person, chair = observation("person", None, track_id=8), observation("chair", None, track_id=9)
    threshold = RuleParams().queue_threshold("stall")
    (strong,) = StallRule().evaluate(seen, RuleContext(TAXONOMY, nearby=(seen, person, chair)))
    (weak,) = StallRule().evaluate(seen, RuleContext(TAXONOMY, nearby=(seen, person)))
    assert strong.extra["basis"] == "stall_scene" and strong.priority >= threshold
    assert weak.extra["basis"] == "unverified" and weak.priority < threshold
