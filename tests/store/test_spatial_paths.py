"""The two spatial paths give the same answers: SQLite (lat/lon, H3 cells) and PostGIS (geometry, GiST).

One generated patrol history (videos of sightings, clustered so that cases gather several, some
without a position, some with a position uncertainty) is committed through the store into a
SQLite file and into a PostGIS database. Then, for boxes, points and polygons that hypothesis
draws around it (edges on the data's own coordinates included), both answer alike:

- the cases the commits made, and which violation joined which case;
- the lists' ``bbox`` filter on observations, violations and cases;
- the case-matching candidates: every case a sighting could match is found on both paths, and
  the match itself is the same;
- the rows inside a zone's polygon.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.core.geo import destination, haversine_m
from streetwatch.store.cases import _candidate_cases, _match_existing, _search_m, _sighting
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.filters import BBox
from streetwatch.store.models import Case, Observation, Violation
from streetwatch.store.queries import list_cases, list_observations, list_violations
from streetwatch.store.spatial import ids_in_polygon, postgis_enabled
from tests.db_fixtures import PostgisMissingError, PostgresServer
from tests.store.sightings import ORIGIN, T0, Sighting, commit_sightings, utc

pytestmark = pytest.mark.postgres

RADIUS_M = 10.0
AREA_M = 150.0                    # sightings fall within this many metres of the origin, east and north
FAMILIES = ("parking", "stall", "garbage")
COMPARE = settings(max_examples=40, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass(frozen=True, slots=True)
class Twins:
    """The same history in two databases."""

    sqlite: sessionmaker[Session]
    postgis: sessionmaker[Session]
    points: list[tuple[float, float]]   # every (lat, lon) stored, for drawing edges on them

    def both(self) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
        return self.sqlite, self.postgis


def _history(seed: int, videos: int, per_video: int) -> list[list[Sighting]]:
    """Videos of sightings: problems at fixed spots, each seen again a few metres off, plus strays."""
    rng = random.Random(seed)
    spots = [(rng.choice(FAMILIES), rng.uniform(-AREA_M, AREA_M), rng.uniform(-AREA_M, AREA_M)) for _ in range(15)]
    history = []
    for v in range(videos):
        sightings = []
        for k in range(per_video):
            t = T0 + v * 3600.0 + k
            if rng.random() < 0.08:
                sightings.append(Sighting(rng.choice(FAMILIES), None, 0.0, t))
                continue
            if rng.random() < 0.75:
                family, east, north = rng.choice(spots)
                east, north = east + rng.gauss(0.0, 3.0), north + rng.gauss(0.0, 3.0)
            else:
                family, east, north = rng.choice(FAMILIES), rng.uniform(-AREA_M, AREA_M), rng.uniform(-AREA_M, AREA_M)
            uncertainty = rng.choice([None, 2.0, 8.0])
            sightings.append(Sighting(family, east, north, t, uncertainty_m=uncertainty))
        history.append(sightings)
    return history


def _load(factory: sessionmaker[Session], root: Path, history: list[list[Sighting]]) -> None:
    store = EvidenceStore(root / "evidence")
    for v, sightings in enumerate(history):
        commit_sightings(factory, store, f"patrol-{v:03d}.mp4", sightings, case_radius_m=RADIUS_M)


@pytest.fixture(scope="module")
def twins(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twins]:
    root = tmp_path_factory.mktemp("twins")
    name = f"test_{uuid.uuid4().hex[:16]}"
    try:
        postgres_server.create_postgis_database(name)
    except PostgisMissingError as exc:
        pytest.skip(str(exc))
    engines = []
    try:
        history = _history(seed=14, videos=8, per_video=8)
        factories = []
        for url, folder in ((f"sqlite:///{root / 'twin.db'}", root / "sqlite"),
                            (postgres_server.url(name), root / "postgis")):
            upgrade(url)
            engine = make_engine(url)
            engines.append(engine)
            factory = make_session_factory(engine)
            _load(factory, folder, history)
            factories.append(factory)
        sqlite, postgis = factories
        assert not postgis_enabled(sqlite) and postgis_enabled(postgis)
        with sqlite() as session:
            points = [(lat, lon) for lat, lon in session.execute(select(Observation.lat, Observation.lon))
                      if lat is not None]
        yield Twins(sqlite, postgis, points)
    finally:
        for engine in engines:
            engine.dispose()
        postgres_server.drop_database(name)


def test_the_commits_make_the_same_cases(twins: Twins) -> None:
    def cases(factory: sessionmaker[Session]) -> list[tuple[object, ...]]:
        with factory() as session:
            return [tuple(row) for row in session.execute(
                select(Case.id, Case.family, Case.lat, Case.lon, Case.h3_cell, Case.sightings, Case.recurrence_count)
                .order_by(Case.id))]

    def joined(factory: sessionmaker[Session]) -> list[tuple[int, int | None]]:
        with factory() as session:
            return [(i, c) for i, c in session.execute(select(Violation.id, Violation.case_id).order_by(Violation.id))]

    on_sqlite, on_postgis = cases(twins.sqlite), cases(twins.postgis)
    assert on_sqlite == on_postgis
    assert joined(twins.sqlite) == joined(twins.postgis)
    # The history is worth comparing: cases of several sightings, and unlocated violations.
    assert len(on_sqlite) > 12
    assert sum(1 for row in on_sqlite if row[5] >= 3) >= 10
    assert any(case_id is None for _, case_id in joined(twins.sqlite))


def _edge(points: list[tuple[float, float]], axis: int) -> st.SearchStrategy[float]:
    """A coordinate near the data: one of its own (an edge exactly on a point) or one in between."""
    values = sorted(p[axis] for p in points)
    span = st.floats(min_value=values[0] - 1e-4, max_value=values[-1] + 1e-4, allow_nan=False)
    return st.one_of(st.sampled_from(values), span)


@st.composite
def boxes(draw: st.DrawFn, points: list[tuple[float, float]]) -> BBox:
    lats = sorted([draw(_edge(points, 0)), draw(_edge(points, 0))])
    lons = sorted([draw(_edge(points, 1)), draw(_edge(points, 1))])
    return BBox(lons[0], lats[0], lons[1], lats[1])


def _ids(factory: sessionmaker[Session], lister: object, bbox: BBox) -> list[int]:
    with factory() as session:
        rows, _ = lister(session, bbox=bbox, limit=500)  # type: ignore[operator]
        return [row.id for row in rows]


def test_bbox_filters_keep_the_same_rows(twins: Twins) -> None:
    seen_nonempty = 0

    @COMPARE
    @given(data=st.data())
    def compare(data: st.DataObject) -> None:
        nonlocal seen_nonempty
        bbox = data.draw(boxes(twins.points))
        for lister in (list_observations, list_violations, list_cases):
            on_sqlite, on_postgis = (_ids(factory, lister, bbox) for factory in twins.both())
            assert on_sqlite == on_postgis, (lister.__name__, bbox)
            seen_nonempty += bool(on_sqlite)

    compare()
    assert seen_nonempty > 20  # the boxes did catch rows


def _probe(lat: float, lon: float, family: str, uncertainty_m: float | None, t: float) -> Violation:
    """A sighting about to be attached (not stored): what the candidate search is given."""
    violation = Violation(family=family, lat=lat, lon=lon, seen_at=utc(t), event_code="0508")
    if uncertainty_m is not None:
        violation.observation = Observation(uncertainty_m=uncertainty_m, video_id=10_000, pts_start_s=0.0,
                                            pts_end_s=1.0)
    return violation


@st.composite
def probes(draw: st.DrawFn, points: list[tuple[float, float]]) -> list[Violation]:
    """A video's worth of sightings: near stored positions (a few metres off) or anywhere in the area."""
    found = []
    for k in range(draw(st.integers(min_value=1, max_value=6))):
        if draw(st.booleans()):
            lat, lon = draw(st.sampled_from(points))
            lat, lon = destination(lat, lon, draw(st.floats(0.0, 360.0)), draw(st.floats(0.0, 3.0 * RADIUS_M)))
        else:
            lat, lon = destination(*ORIGIN, draw(st.floats(0.0, 360.0)), draw(st.floats(0.0, 1.5 * AREA_M)))
        found.append(_probe(lat, lon, draw(st.sampled_from(FAMILIES)), draw(st.sampled_from([None, 3.0, 9.0])),
                            T0 + 40 * 3600.0 + k))
    return found


def test_case_matching_candidates_and_matches_agree(twins: Twins) -> None:
    matched_some = 0

    @COMPARE
    @given(data=st.data())
    def compare(data: st.DataObject) -> None:
        nonlocal matched_some
        batch = data.draw(probes(twins.points))
        sightings = [_sighting(f"{i:06d}", v, RADIUS_M) for i, v in enumerate(batch)]
        found, matches = [], []
        for factory in twins.both():
            with factory() as session:
                candidates = _candidate_cases(session, batch, RADIUS_M)
                found.append({c.id: c for c in candidates})
                matches.append([None if c is None else c.id for c in _match_existing(session, batch, sightings,
                                                                                     RADIUS_M)])
        # Every case within the search distance of a sighting, of the batch's families, is found by both.
        families = {v.family for v in batch}
        everything = {**found[0], **found[1]}
        reachable = {case_id for case_id, c in everything.items() for v in batch
                     if c.family in families and v.lat is not None and v.lon is not None
                     and haversine_m(v.lat, v.lon, c.lat, c.lon) <= _search_m(v, RADIUS_M)}
        for cases in found:
            assert reachable <= set(cases)
        assert matches[0] == matches[1]
        matched_some += sum(m is not None for m in matches[0])

    compare()
    assert matched_some > 10  # the probes did land on cases


@st.composite
def polygons(draw: st.DrawFn, points: list[tuple[float, float]]) -> str:
    """A zone: the convex hull of a few points near the data, or a box whose corners sit on stored points."""
    if draw(st.booleans()):
        lat, lon = draw(st.sampled_from(points))
        corners = [destination(lat, lon, draw(st.floats(0.0, 360.0)), draw(st.floats(5.0, 80.0))) for _ in range(5)]
        hull = shapely.MultiPoint([(lo, la) for la, lo in corners]).convex_hull
    else:
        box = draw(boxes(points))
        hull = shapely.box(box.min_lon, box.min_lat, box.max_lon, box.max_lat)
    if hull.area == 0:
        hull = hull.buffer(1e-5)
    return str(hull.wkt)


def test_zone_look_ups_find_the_same_rows(twins: Twins) -> None:
    hits = 0

    @COMPARE
    @given(data=st.data())
    def compare(data: st.DataObject) -> None:
        nonlocal hits
        wkt = data.draw(polygons(twins.points))
        for model in (Observation, Violation, Case):
            answers = []
            for factory in twins.both():
                with factory() as session:
                    answers.append(ids_in_polygon(session, model, wkt))
            on_sqlite, on_postgis = answers
            assert on_sqlite == on_postgis, (model.__name__, wkt)
            hits += len(on_sqlite)

    compare()
    assert hits > 50


def test_a_later_sighting_after_the_gap_is_a_recurrence_on_both(twins: Twins, tmp_path: Path) -> None:
    """One more video, a day on, at a stored case: both paths attach it and count the recurrence."""
    with twins.sqlite() as session:
        case = session.scalars(select(Case).where(Case.sightings >= 3).order_by(Case.id)).first()
        assert case is not None
        east = haversine_m(ORIGIN[0], ORIGIN[1], ORIGIN[0], case.lon) * (1 if case.lon > ORIGIN[1] else -1)
        north = haversine_m(ORIGIN[0], ORIGIN[1], case.lat, ORIGIN[1]) * (1 if case.lat > ORIGIN[0] else -1)
        last_seen = case.last_seen
    assert last_seen is not None
    later = (last_seen + timedelta(days=2)).timestamp()
    after = []
    for factory, folder in zip(twins.both(), ("sqlite", "postgis"), strict=True):
        commit_sightings(factory, EvidenceStore(tmp_path / folder), "later.mp4",
                         [Sighting(case.family, east + 1.0, north, later)], case_radius_m=RADIUS_M)
        with factory() as session:
            again = session.get(Case, case.id)
            assert again is not None
            after.append((again.sightings, again.recurrence_count, again.lat, again.lon))
    assert after[0] == after[1]
    assert after[0][0] == case.sightings + 1 and after[0][1] == case.recurrence_count + 1
