"""A small city's months of case work for the report and hot-spot tests, built as ingest and the workflow do.

``build_city`` writes, month by month, one video of violations (three families, four places a few
hundred metres apart, several spots about 30 m apart in each place: one H3 cell at resolution 9), attaches
them to cases (``attach_violations``: a spot seen again joins its case, and a closed one reopens), files
each newly open case and takes it through the workflow with one of five outcomes (on time, late, reworked,
dispatched only, handled but never closed), all at chosen times. More cases each month, so the trend moves.
Nothing is hard-coded for the assertions: the tests compare the report with the API's own figures.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.case_workflow import file_on_approval, transition_case
from streetwatch.core.vocab import CaseStatus
from streetwatch.store.cases import attach_violations, lock_case_areas
from streetwatch.store.models import Case, Evidence, Observation, Video, Violation
from tests.casework.store_builders import CONFIG

SH = ZoneInfo("Asia/Shanghai")
FAMILIES = {"parking": ("car", "0508", "机动车乱停放"), "stall": ("stall", "0502", "占道经营"),
            "garbage": ("garbage_pile", "0101", "暴露垃圾")}
PLACES = [(31.2304, 121.4737), (31.2404, 121.4737), (31.2304, 121.4867), (31.2204, 121.4637)]
OUTCOMES = ("on_time", "late", "rework", "dispatched", "handled")
SUP = frozenset({"supervisor"})


@dataclass(slots=True)
class City:
    """What was built: the months and, per month, the cases filed in it."""

    months: list[str]
    filed: dict[str, list[int]] = field(default_factory=dict)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _workdays(year: int, month: int) -> list[datetime]:
    day = datetime(year, month, 1, tzinfo=SH)
    days = []
    while day.month == month:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _sightings(factory: sessionmaker[Session], name: str, spots: list[tuple[str, float, float, datetime]]) -> list[int]:
    """One video with a violation per (family, lat, lon, seen_at), attached to cases; the violations' ids."""
    with factory.begin() as session:
        video = Video(sha256=_sha(name), filename=f"{name}.mp4", size_bytes=1, container="mp4", codec="h264",
                      width=640, height=480, duration_s=600.0, status="done")
        session.add(video)
        session.add_all([Evidence(sha256=_sha(f"{name}-{part}"), media_type="image/jpeg", size_bytes=1)
                         for part in ("frame", "crop")])
        session.flush()
        rows = []
        for i, (family, lat, lon, seen) in enumerate(spots):
            class_name, code, name_zh = FAMILIES[family]
            obs = Observation(video_id=video.id, track_id=i + 1, class_name=class_name, family=family, confidence=0.8,
                              pts_start_s=float(i), pts_end_s=i + 0.5, best_pts_s=i + 0.2, seen_at=seen,
                              location_status="geolocated", lat=lat, lon=lon, bbox=[0, 0, 1, 1], track_points=[],
                              frame_sha256=_sha(f"{name}-frame"), crop_sha256=_sha(f"{name}-crop"))
            rows.append(Violation(observation=obs, family=family, class_name=class_name, event_code=code,
                                  name_zh=name_zh, name_en=family, reason="seen", rule="test", rule_version="1",
                                  extra={}, status="approved", seen_at=seen, lat=lat, lon=lon))
        session.add_all(rows)
        session.flush()
        lock_case_areas(session, rows, CONFIG.case_radius_m)
        attach_violations(session, rows, radius_m=CONFIG.case_radius_m)
        return [v.id for v in rows]


def _act(session: Session, case_id: int, action: str, at: datetime, **kwargs: object) -> None:
    transition_case(session, case_id, action, actor="sam", roles=SUP, config=CONFIG, now=at,
                    note="test" if action in ("rework", "return", "extend") else None, **kwargs)  # type: ignore[arg-type]


def _work(session: Session, case_id: int, outcome: str, start: datetime) -> None:
    at = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731
    _act(session, case_id, "dispatch", at(10))
    if outcome == "on_time":
        steps = [("handle", 60), ("check", 90), ("close", 120)]
    elif outcome == "late":
        steps = [("handle", 6 * 60), ("check", 24 * 60 + 30), ("close", 25 * 60)]
    elif outcome == "rework":
        steps = [("handle", 40), ("rework", 60), ("handle", 90), ("check", 120), ("close", 150)]
    elif outcome == "handled":
        steps = [("handle", 60)]
    else:
        steps = []
    for action, minutes in steps:
        _act(session, case_id, action, at(minutes))


def build_city(factory: sessionmaker[Session], months: list[str]) -> City:
    """Build ``months`` (``YYYY-MM``, in order) of case work; month k has 4 + 2k sightings."""
    city = City(months)
    for k, month in enumerate(months):
        year, number = (int(p) for p in month.split("-"))
        days = _workdays(year, number)
        spots = []
        for j in range(4 + 2 * k):
            family = list(FAMILIES)[j % len(PLACES) % 3]  # each place has its family: problems recur
            lat, lon = PLACES[j % len(PLACES)]
            offset = 0.0003 * (j // len(PLACES))  # ~33 m north per spot: another case, the same res-9 cell
            spots.append((family, lat + offset, lon, days[j % len(days)].replace(hour=8, minute=30)))
        ids = _sightings(factory, f"patrol-{month}", spots)
        city.filed[month] = []
        with factory() as session:
            for j, violation_id in enumerate(ids):
                violation = session.get(Violation, violation_id)
                assert violation is not None and violation.case_id is not None
                case = session.get(Case, violation.case_id)
                assert case is not None
                if case.status != CaseStatus.OPEN:
                    continue  # a problem already in the workflow: the sighting just joins it
                start = days[j % len(days)].replace(hour=9)
                file_on_approval(session, case.id, violation_id, "alice", CONFIG, now=start)
                _work(session, case.id, OUTCOMES[(3 * j + k) % len(OUTCOMES)], start)
                city.filed[month].append(case.id)
            session.commit()
    return city
