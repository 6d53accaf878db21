"""Hot spots and recurring places: the recurrence rule on hand-made sightings, the ranking and its trend, and
the store reads against the generated city (SQLite and PostgreSQL) and over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.hotspots import (
    CaseSightings,
    count_recurrences,
    heat_points,
    rank_recurring,
    recurring_places,
)
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models import Case, Violation
from tests.casework.city_builders import PLACES, build_city

SH = ZoneInfo("Asia/Shanghai")
NOV, DEC = datetime(2026, 11, 1, tzinfo=SH), datetime(2026, 12, 1, tzinfo=SH)
OCT = datetime(2026, 10, 1, tzinfo=SH)


def at(day: int, hour: int = 9, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SH)


def case(case_id: int, seen: list[datetime], closed: list[datetime] = (), family: str = "stall",  # type: ignore[assignment]
         where: tuple[float, float] = PLACES[0], unit: str | None = "A") -> CaseSightings:
    return CaseSightings(case_id, family, where[0], where[1], unit, None, tuple(sorted(seen)), tuple(sorted(closed)))


@pytest.mark.parametrize(
    ("seen", "closed", "expected"),
    [
        ([at(2), at(2, 10)], [], (0, False)),                       # an hour apart: the same visit
        ([at(2), at(4)], [], (1, False)),                           # two days apart: it came back
        ([at(2), at(2, 10)], [at(2, 9) + timedelta(minutes=30)], (1, True)),  # closed in between: reopened
        ([at(20, month=10), at(2)], [at(21, month=10)], (1, True)),  # closed last month, back this month
        ([at(2), at(4), at(6)], [at(3)], (2, True)),                 # once after a close, once after a gap
        ([at(20, month=10), at(25, month=10)], [], (0, False)),      # all before the period
    ],
)
def test_recurrence_rule(seen: list[datetime], closed: list[datetime], expected: tuple[int, bool]) -> None:
    assert count_recurrences(case(1, seen, closed), NOV, DEC) == expected


def test_ranking_scores_places_and_trends() -> None:
    centre = h3.cell_to_latlng(h3.latlng_to_cell(*PLACES[0], 9))
    near = (centre[0] + 0.0003, centre[1])  # ~33 m from the centre of a cell of ~175 m edge: the same cell
    cases = [
        case(1, [at(2), at(9)], where=centre),              # 1 recurrence
        case(2, [at(3)], where=near),                       # a second stall case in the cell
        case(3, [at(3)], family="parking", where=near),     # parking alone in the cell: no score
        case(4, [at(5, month=10), at(12, month=10), at(19, month=10), at(3)], where=PLACES[1], unit="B"),
    ]
    places = rank_recurring(cases, since=NOV, until=DEC, previous=(OCT, NOV))
    first, second = places
    assert h3.latlng_to_cell(*centre, 9) == h3.latlng_to_cell(*near, 9) == first.cell
    assert (first.family, first.cases, first.recurrences, first.score, first.previous_score, first.trend) == (
        "stall", 2, 1, 2, 0, 2)
    # Case 4: two recurrences in October, one (a week's gap) in November: better than last month.
    assert (second.cell, second.score, second.previous_score, second.trend, second.unit) == (
        h3.latlng_to_cell(*PLACES[1], 9), 1, 2, -1, "B")
    assert rank_recurring(cases, since=NOV, until=DEC, previous=(OCT, NOV), limit=1) == [first]
    coarse = rank_recurring(cases, since=NOV, until=DEC, previous=(OCT, NOV), resolution=5)
    assert h3.latlng_to_cell(*centre, 5) == h3.latlng_to_cell(*PLACES[1], 5)
    # One cell holds the three stall cases: two recurrences (cases 1 and 4) + two cases beyond the first.
    assert [(p.family, p.cases, p.recurrences, p.score) for p in coarse] == [("stall", 3, 2, 4)]


@pytest.fixture
def city(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    build_city(factory, ["2026-09", "2026-10", "2026-11"])
    yield factory
    engine.dispose()


def test_store_reads_agree_with_the_rows(city: sessionmaker[Session]) -> None:
    with city() as session:
        seen = session.execute(select(Violation.lat, Violation.lon, Violation.case_id, Violation.family)
                               .where(Violation.seen_at >= NOV, Violation.seen_at < DEC)).all()
        points = heat_points(session, since=NOV, until=DEC)
        assert sorted((p.lat, p.lon) for p in points) == sorted((lat, lon) for lat, lon, *_ in seen)
        by_case = heat_points(session, since=NOV, until=DEC, kind="cases", family="garbage")
        garbage = [c for *_, c, f in seen if f == "garbage"]
        assert sum(p.weight for p in by_case) == len(garbage) and len(by_case) == len(set(garbage))
        unit = session.scalar(select(Case.unit).where(Case.family == "parking").limit(1))
        scoped = heat_points(session, since=NOV, until=DEC, unit=unit)
        assert 0 < len(scoped) < len(points)

        places = recurring_places(session, since=NOV, until=DEC, previous=(OCT, NOV))
        assert places and all(p.score > 0 for p in places)
        assert [p.score for p in places] == sorted((p.score for p in places), reverse=True)
        # Each place's cases are the cases of its family with a sighting in the month, in its cell.
        for place in places:
            in_cell = {c for lat, lon, c, f in seen if f == place.family and h3.latlng_to_cell(
                *_case_position(session, c), 9) == place.cell}
            assert place.cases == len(in_cell)
        assert recurring_places(session, since=NOV, until=DEC, family="garbage") == [
            p for p in recurring_places(session, since=NOV, until=DEC) if p.family == "garbage"]
        with pytest.raises(ValueError, match="before"):
            recurring_places(session, since=DEC, until=NOV)


def _case_position(session: Session, case_id: int) -> tuple[float, float]:
    found = session.get(Case, case_id)
    assert found is not None
    return found.lat, found.lon
