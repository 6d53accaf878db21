"""One case per real problem: H3 neighbourhoods and the grouping of sightings, table by table."""

from __future__ import annotations

import math
import random

import h3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streetwatch.core.dedup as dedup
from streetwatch.core.dedup import (
    H3_RESOLUTION,
    CaseCentre,
    Sighting,
    cell_of,
    cells_within,
    group_sightings,
    match_batch,
    same_problem,
)
from streetwatch.core.geo import destination

ORIGIN = (31.2304, 121.4737)


def at(east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    """A point this many metres east and north of ORIGIN."""
    lat, lon = destination(*ORIGIN, 90.0, east_m)
    return destination(lat, lon, 0.0, north_m)


def sighting(key: str, east_m: float, *, family: str = "stall", t: float = 0.0, north_m: float = 0.0,
             uncertainty_m: float = 0.0, source: str = "", t_end: float | None = None,
             class_name: str = "stall") -> Sighting:
    return Sighting(key, family, class_name, *at(east_m, north_m), t, uncertainty_m, source, t_end)


DAY = 86_400.0

CASES = [
    ("same spot, two passes", [sighting("a", 0.0), sighting("b", 1.5, t=DAY)], [0, 0]),
    ("two families at one spot", [sighting("a", 0.0), sighting("b", 0.0, family="parking", t=1.0)], [0, 1]),
    ("umbrella and table of one stall",
     [sighting("a", 0.0), sighting("b", 2.0, t=1.0, class_name="umbrella")], [0, 0]),
    ("30 m apart", [sighting("a", 0.0), sighting("b", 30.0, t=DAY)], [0, 1]),
    ("8 m apart", [sighting("a", 0.0), sighting("b", 0.0, north_m=8.0, t=DAY)], [0, 0]),
    ("11 m apart", [sighting("a", 0.0), sighting("b", 11.0, t=DAY)], [0, 1]),
    # a chain A-B-C-D, 8 m steps: single linkage would make one 24 m case; centres stop it
    ("chain of 8 m steps", [sighting(k, 8.0 * i, t=float(i)) for i, k in enumerate("abcd")], [0, 0, 1, 1]),
    # the nearest case wins, not the first one found
    ("nearest of two cases", [sighting("a", 0.0), sighting("b", 14.0, t=1.0), sighting("c", 9.0, t=2.0)],
     [0, 1, 1]),
    # an uncertain position gets up to radius/2 more room, a sure one none
    ("12 m apart, sure", [sighting("a", 0.0), sighting("b", 12.0, t=DAY)], [0, 1]),
    ("12 m apart, 3 m uncertain",
     [sighting("a", 0.0), sighting("b", 12.0, t=DAY, uncertainty_m=3.0)], [0, 0]),
    ("16 m apart, 50 m uncertain",
     [sighting("a", 0.0), sighting("b", 16.0, t=DAY, uncertainty_m=50.0)], [0, 1]),
    # one video: two tracks seen at the same time are two objects, even side by side
    ("one video, same time, 3 m apart",
     [sighting("a", 0.0, source="v1", t=0.0, t_end=4.0), sighting("b", 3.0, source="v1", t=1.0, t_end=5.0)],
     [0, 1]),
    # ...but a track that follows another (a tracker id switch) is the same object
    ("one video, id switch",
     [sighting("a", 0.0, source="v1", t=0.0, t_end=2.0), sighting("b", 2.0, source="v1", t=2.2, t_end=5.0)],
     [0, 0]),
    ("two videos, same time",
     [sighting("a", 0.0, source="v1", t=0.0, t_end=4.0), sighting("b", 2.0, source="v2", t=1.0, t_end=5.0)],
     [0, 0]),
    ("nothing", [], []),
]


@pytest.mark.parametrize(("case", "sightings", "expected"), CASES, ids=[c[0] for c in CASES])
def test_group_sightings(case, sightings, expected):
    assert group_sightings(sightings, radius_m=10.0) == expected, case


@pytest.mark.parametrize(("case", "sightings", "expected"), CASES, ids=[c[0] for c in CASES])
def test_grouping_does_not_depend_on_input_order(case, sightings, expected):
    order = list(range(len(sightings)))
    random.Random(5).shuffle(order)
    shuffled = group_sightings([sightings[i] for i in order], radius_m=10.0)
    # the same partition: case numbers follow time, so compare who is with whom
    together = {(i, j) for i in range(len(order)) for j in range(len(order)) if shuffled[i] == shuffled[j]}
    assert together == {(i, j) for i in range(len(order)) for j in range(len(order))
                        if expected[order[i]] == expected[order[j]]}, case


def test_a_later_pass_joins_its_own_case_not_a_neighbours():
    # two stalls 15 m apart; the second patrol sees each 4 m off towards the other
    first = [sighting("a1", 0.0, t=0.0), sighting("b1", 15.0, t=1.0)]
    second = [sighting("a2", 4.0, t=DAY), sighting("b2", 11.0, t=DAY + 1.0)]
    assert group_sightings(first + second) == [0, 1, 0, 1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"radius_m": -1.0}, "radius_m"),
        ({"radius_m": math.nan}, "radius_m"),
        ({"max_allowance_m": -2.0}, "max_allowance_m"),
        ({"overlap_tolerance_s": math.inf}, "overlap_tolerance_s"),
    ],
)
def test_bad_grouping_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        group_sightings([sighting("a", 0.0)], **kwargs)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lat": 91.0}, "latitude must be within"),
        ({"lon": math.nan}, "latitude must be within"),
        ({"t": math.inf}, "time must be finite"),
        ({"uncertainty_m": -1.0}, "uncertainty_m must be finite and >= 0"),
        ({"t": 10.0, "t_end": 9.0}, r"t_end must be finite and >= t \(10.0\)"),
    ],
)
def test_bad_sightings_are_refused(fields, message):
    base = {"key": "k", "family": "stall", "class_name": "stall", "lat": ORIGIN[0], "lon": ORIGIN[1],
            "t": 0.0}
    with pytest.raises(ValueError, match=message):
        Sighting(**(base | fields))


@pytest.mark.parametrize(
    ("a_family", "b_family", "distance_m", "radius_m", "expected"),
    [
        ("stall", "stall", 0.0, 10.0, True),
        ("stall", "stall", 9.9, 10.0, True),
        ("stall", "stall", 10.1, 10.0, False),
        ("stall", "parking", 0.0, 10.0, False),
        ("ads", "ads", 25.0, 30.0, True),
    ],
)
def test_same_problem(a_family, b_family, distance_m, radius_m, expected):
    assert same_problem(a_family, *ORIGIN, b_family, *at(distance_m), radius_m) is expected


def test_cells_are_resolution_12_and_the_disk_holds_its_own_cell():
    cell = cell_of(*ORIGIN)
    assert h3.get_resolution(cell) == H3_RESOLUTION == 12
    assert cell in cells_within(*ORIGIN, 0.0)
    assert len(cells_within(*ORIGIN, 10.0)) < len(cells_within(*ORIGIN, 60.0))
    with pytest.raises(ValueError, match="radius_m"):
        cells_within(*ORIGIN, -1.0)
    with pytest.raises(ValueError, match="latitude must be within"):
        cell_of(100.0, 0.0)


@given(lat=st.floats(-70.0, 70.0), lon=st.floats(-179.0, 179.0), bearing=st.floats(0.0, 360.0),
       fraction=st.floats(0.0, 1.0), radius=st.sampled_from([0.0, 5.0, 10.0, 15.0, 40.0]))
@settings(max_examples=300, deadline=None)
def test_cells_within_holds_every_point_within_the_radius(lat, lon, bearing, fraction, radius):
    other = destination(lat, lon, bearing, fraction * radius)
    assert cell_of(*other) in cells_within(lat, lon, radius)


def test_grouping_compares_each_sighting_with_a_bounded_number_of_cases(monkeypatch):
    """O(n): a street of 3000 sightings (a stall every 20 m, three passes) never scans all cases."""
    calls = 0
    real = dedup.haversine_m

    def counting(*args: float) -> float:
        nonlocal calls
        calls += 1
        return real(*args)

    monkeypatch.setattr(dedup, "haversine_m", counting)
    stalls = 1000
    sightings = [sighting(f"{p}/{i}", 20.0 * i + (p - 1) * 1.5, t=p * DAY + i)
                 for p in range(3) for i in range(stalls)]
    cases = group_sightings(sightings)
    assert cases == [i for _ in range(3) for i in range(stalls)]
    calls_in_grouping = calls - 6 * len(sightings)  # cells_within measures its own cell's 6 vertices
    # a few neighbouring cases each (a scan of all cases would be ~n^2 / 2 = 4.5 million)
    assert calls_in_grouping < 10 * len(sightings)


def street(pass_index: int, shift_m: float, positions: list[float]) -> list[Sighting]:
    """One patrol along a street: a stall at each position, seen at once by pairs, ``shift_m`` GPS offset."""
    start, video = pass_index * DAY, f"video {pass_index}"
    return [sighting(f"{pass_index}/{k}", x + shift_m, t=start + k, t_end=start + k + 3.0, source=video)
            for k, x in enumerate(positions)]


# isolated stalls (anchors: no doubt which case they are) around a pair 15 m apart
STALLS = [0.0, 40.0, 80.0, 120.0, 135.0, 175.0, 215.0, 255.0]


@pytest.mark.parametrize(
    ("shift_m", "align_window_s", "expected_second_pass"),
    [
        (3.0, 30.0, [0, 1, 2, 3, 4, 5, 6, 7]),
        (3.0, 0.0, [0, 1, 2, 3, 4, 5, 6, 7]),
        # 8 m off: the pair's first stall lies nearer the second's case; only the offset saves it
        (8.0, 30.0, [0, 1, 2, 3, 4, 5, 6, 7]),
        (8.0, 0.0, [0, 1, 2, 4, 8, 5, 6, 7]),
    ],
)
def test_a_patrols_gps_offset_is_taken_off_before_matching(shift_m, align_window_s, expected_second_pass):
    first, second = street(0, 0.0, STALLS), street(1, shift_m, STALLS)
    cases = group_sightings(first + second, align_window_s=align_window_s)
    assert cases[: len(STALLS)] == list(range(len(STALLS)))
    assert cases[len(STALLS):] == expected_second_pass


def test_match_batch_returns_case_indices_or_minus_one():
    cases = [CaseCentre("stall", *at(0.0)), CaseCentre("stall", *at(40.0)), CaseCentre("parking", *at(80.0)),
             CaseCentre("stall", *at(120.0), spans=(("video 1", 0.0, 10.0),))]
    batch = [sighting("a", 41.0, source="video 1", t=1.0), sighting("b", 80.0, source="video 1", t=2.0),
             sighting("c", 119.0, source="video 1", t=3.0, t_end=4.0),
             sighting("d", 118.0, source="video 2", t=3.0, t_end=4.0)]
    # a: the stall at 40 m; b: only a parking case there; c: that case already holds a sighting of
    # video 1 at the same time
    assert match_batch(batch[:3], cases) == [1, -1, -1]
    assert match_batch(batch[3:], cases) == [3]
    assert match_batch(batch, []) == [-1] * 4
    assert match_batch([], cases) == []
