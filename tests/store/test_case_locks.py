"""Advisory lock keys: two searches that could see the same case always share a lock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.geo import destination
from streetwatch.store.cases import case_lock_key, case_lock_keys, lock_case_areas, search_reach_m
from streetwatch.store.models import Observation, Violation

SessionFactory = sessionmaker[Session]


@settings(max_examples=150, deadline=None)
@given(
    lat=st.floats(-60.0, 60.0), lon=st.floats(-179.0, 179.0), bearing=st.floats(0.0, 360.0),
    fraction=st.floats(0.0, 1.0), radius=st.floats(1.0, 40.0),
)
def test_searches_that_overlap_share_a_lock(
    lat: float, lon: float, bearing: float, fraction: float, radius: float
) -> None:
    other_lat, other_lon = destination(lat, lon, bearing, fraction * radius)

    mine = case_lock_keys([("stall", lat, lon, radius)])
    theirs = case_lock_keys([("stall", other_lat, other_lon, radius)])

    assert set(mine) & set(theirs)
    assert mine == sorted(mine)  # one order everywhere: no deadlocks


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (("parking", "88309a3d4bfffff"), ("parking", "88309a3d4bfffff"), True),
        (("parking", "88309a3d4bfffff"), ("stall", "88309a3d4bfffff"), False),
        (("parking", "88309a3d4bfffff"), ("parking", "88309a3d4dfffff"), False),
    ],
)
def test_lock_keys_are_per_family_and_cell(a: tuple[str, str], b: tuple[str, str], equal: bool) -> None:
    assert (case_lock_key(*a) == case_lock_key(*b)) is equal
    assert -(2**63) <= case_lock_key(*a) < 2**63  # PostgreSQL bigint


@pytest.mark.parametrize(
    ("radius", "uncertainty", "reach"),
    [(10.0, None, 10.0), (10.0, 0.0, 10.0), (10.0, -3.0, 10.0), (10.0, 2.5, 12.5), (10.0, 50.0, 15.0)],
)
def test_search_reach(radius: float, uncertainty: float | None, reach: float) -> None:
    assert search_reach_m(radius, uncertainty) == reach


def test_locks_only_on_postgresql(db_url: str, db_session_factory: SessionFactory) -> None:
    violations = [
        Violation(family="parking", lat=31.23, lon=121.47, observation=Observation(uncertainty_m=None)),
        Violation(family="parking", lat=None, lon=None, observation=Observation(uncertainty_m=None)),
    ]
    with db_session_factory.begin() as session:
        taken = lock_case_areas(session, violations, 10.0)
    assert (taken > 0) is db_url.startswith("postgresql")
