"""streetwatch.store.queries against a real, migrated, seeded database: SQLite and PostgreSQL.

Read-only tests share one seeded database per backend (``session`` and ``seed`` below);
tests that write get a fresh one each (``write_store``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from streetwatch.store import queries
from streetwatch.store.models import MAX_ROW_ID
from tests.api.cases import (
    OBSERVATION_CASES,
    T_SINCE,
    T_UNTIL,
    VIOLATION_CASES,
    FilterCase,
    expected_ids,
    query_kwargs,
)
from tests.api.conftest import SeededStore
from tests.api.seed import SeedData, SeedViolation


@pytest.fixture
def seed(read_store: SeededStore) -> SeedData:
    return read_store.seed


@pytest.fixture
def session(read_session: Session) -> Session:
    return read_session


def walk(
    lister: Callable[..., tuple[list[Any], str | None]], session: Session, limit: int, **filters: Any
) -> list[int]:
    """Follow cursors to the end; return every id in the order the pages gave them."""
    ids: list[int] = []
    cursor: str | None = None
    for _ in range(1000):
        rows, cursor = lister(session, limit=limit, cursor=cursor, **filters)
        assert len(rows) <= limit
        ids += [(r.video.id if isinstance(r, queries.VideoCounts) else r.id) for r in rows]
        if cursor is None:
            return ids
        assert len(rows) == limit, "a page before the last must be full"
    raise AssertionError("pagination never ended")


def pick(seed: SeedData, class_name: str, status: str) -> SeedViolation:
    return next(v for v in seed.violations if v.class_name == class_name and v.status == status)


@pytest.mark.parametrize("limit", [1, 4, 7, 50, 500])
@pytest.mark.parametrize("kind", ["violations", "observations", "videos"])
def test_pagination_returns_every_row_once_newest_first(
    session: Session, seed: SeedData, kind: str, limit: int
) -> None:
    lister, rows = {
        "violations": (queries.list_violations, seed.violations),
        "observations": (queries.list_observations, seed.observations),
        "videos": (queries.list_videos, seed.videos),
    }[kind]
    assert walk(lister, session, limit) == sorted((r.id for r in rows), reverse=True)


@pytest.mark.parametrize("boundary", [T_SINCE, T_UNTIL])
def test_seed_has_violations_exactly_on_the_time_boundaries(seed: SeedData, boundary: object) -> None:
    assert any(v.seen_at == boundary for v in seed.violations)


@pytest.mark.parametrize("case", VIOLATION_CASES, ids=lambda c: c.id)
def test_violation_filters(session: Session, seed: SeedData, case: FilterCase) -> None:
    got = walk(queries.list_violations, session, 7, **query_kwargs(case.params))
    assert got == expected_ids(seed.violations, case)


@pytest.mark.parametrize("case", OBSERVATION_CASES, ids=lambda c: c.id)
def test_observation_filters(session: Session, seed: SeedData, case: FilterCase) -> None:
    got = walk(queries.list_observations, session, 7, **query_kwargs(case.params))
    assert got == expected_ids(seed.observations, case)


@pytest.mark.parametrize("status", ["processing", "done", "failed"])
def test_video_status_filter_and_counts(session: Session, seed: SeedData, status: str) -> None:
    rows, cursor = queries.list_videos(session, status=status)
    assert cursor is None
    assert [r.video.id for r in rows] == [v.id for v in seed.videos if v.status == status]
    for row in rows:
        assert row.observations == sum(o.video_id == row.video.id for o in seed.observations)
        assert row.violations == sum(v.video_id == row.video.id for v in seed.violations)


@pytest.mark.parametrize("last_id", [1, 9, MAX_ROW_ID])
def test_cursor_round_trip(last_id: int) -> None:
    assert queries.decode_cursor(queries.encode_cursor(last_id)) == last_id


@pytest.mark.parametrize("last_id", [0, MAX_ROW_ID + 1, 2**63])
def test_cursors_of_ids_no_row_can_have_are_rejected(last_id: int) -> None:
    with pytest.raises(queries.InvalidCursorError, match="not a cursor returned by this API"):
        queries.decode_cursor(queries.encode_cursor(last_id))


@pytest.mark.parametrize(
    "cursor", ["", "zzz", "!!!!", "aWQ6", "aWQ6LTE", "aWQ6YWJj", "MTI", "aWQ6MSAy", "\u00e9"]
)
def test_bad_cursors_are_rejected(session: Session, cursor: str) -> None:
    with pytest.raises(queries.InvalidCursorError, match="invalid cursor"):
        queries.list_violations(session, cursor=cursor)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: queries.list_violations(s, limit=0), "limit must be within"),
        (lambda s: queries.list_videos(s, limit=501), "limit must be within"),
        (lambda s: queries.list_violations(s, status="done"), "status must be one of"),
        (lambda s: queries.list_observations(s, location_status="gps"), "location_status must be one of"),
        (lambda s: queries.list_videos(s, status="pending"), "status must be one of"),
        (
            lambda s: queries.list_violations(
                s,
                since=query_kwargs({"since": "2026-05-02T00:00:00Z"})["since"],
                until=query_kwargs({"until": "2026-05-01T00:00:00Z"})["until"],
            ),
            "must be before",
        ),
    ],
)
def test_bad_arguments_raise_query_error(
    session: Session, call: Callable[[Session], Any], message: str
) -> None:
    with pytest.raises(queries.QueryError, match=message):
        call(session)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("1,2,3", "4 comma-separated"),
        ("1,2,3,4,5", "4 comma-separated"),
        ("a,b,c,d", "must be numbers"),
        ("nan,0,1,1", "finite"),
        ("10,0,5,1", "min_lon 10.0 is greater than max_lon"),
        ("0,5,1,4", "min_lat 5.0 is greater than max_lat"),
        ("0,-91,1,1", "min_lat must be within"),
        ("-181,0,1,1", "min_lon must be within"),
        ("116.3, 39.9, 116.4, 40.0", None),
    ],
)
def test_bbox_parse(text: str, error: str | None) -> None:
    if error is None:
        assert queries.BBox.parse(text) == queries.BBox(116.3, 39.9, 116.4, 40.0)
    else:
        with pytest.raises(queries.QueryError, match=error):
            queries.BBox.parse(text)


def test_get_violation_loads_observation_video_and_decisions(session: Session, seed: SeedData) -> None:
    wanted = seed.violations[3]
    violation = queries.get_violation(session, wanted.id)
    assert violation is not None
    session.expunge_all()  # everything needed must already be loaded
    assert violation.observation.id == wanted.observation_id
    assert violation.observation.video.id == wanted.video_id
    assert violation.decisions == []
    assert queries.get_violation(session, 10**6) is None


def test_get_evidence(session: Session, seed: SeedData) -> None:
    sha = seed.observations[0].frame_sha256
    row = queries.get_evidence(session, sha)
    assert row is not None and row.media_type == "image/jpeg"
    assert queries.get_evidence(session, "0" * 64) is None
