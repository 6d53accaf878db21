"""``streetwatch purge``: evidence and raw footage older than the cut-off go, what open work needs stays, every
removal is in the audit log, and ``streetwatch audit verify`` still passes (a real SQLite file, a real evidence
folder, real footage files)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from streetwatch.cli.main import app
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.core.vocab import CaseStatus, ViolationStatus
from streetwatch.store.audit import verify_audit_chain
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Case, Evidence, Video, Violation
from streetwatch.store.models_workflow import AuditEntry
from streetwatch.store.retention import PURGE_EVIDENCE, PURGE_FOOTAGE
from tests.api.seed import SeedData, seed_database

runner = CliRunner()


def _case(status: CaseStatus, closed_at: datetime | None = None) -> Case:
    return Case(family="parking", event_code="0508", status=status, lat=39.9, lon=116.3, h3_cell="8a31aa5a0a6ffff",
                sightings=1, recurrence_count=0, closed_at=closed_at)


@pytest.fixture
def world(tmp_path: Path) -> tuple[str, Path, Path, SeedData, dict[str, set[str]]]:
    """A seeded database with: pending violations, one approved violation in an open case, one in a case
    closed long ago, the rest rejected or without a violation; two footage files of processed videos."""
    url = f"sqlite:///{tmp_path / 'city.db'}"
    upgrade(url)
    evidence, depot = tmp_path / "evidence", tmp_path / "depot"
    engine = make_engine(url)
    long_ago = datetime.now(UTC) - timedelta(days=400)
    with make_session_factory(engine)() as session:
        seed = seed_database(session, evidence, load_taxonomy(DEFAULT_TAXONOMY))
        open_case, closed_case = _case(CaseStatus.DISPATCHED), _case(CaseStatus.CLOSED, long_ago)
        session.add_all([open_case, closed_case])
        session.flush()
        images_of = {o.violation_id: {o.frame_sha256, o.crop_sha256} for o in seed.observations if o.violation_id}
        rows = session.scalars(select(Violation).order_by(Violation.id)).all()
        statuses = [ViolationStatus.PENDING, ViolationStatus.APPROVED, ViolationStatus.REJECTED]
        for i, row in enumerate(rows):
            row.status = statuses[i % 3]
        rows[1].case_id, rows[4].case_id = open_case.id, closed_case.id  # both approved
        needed = set().union(*(images_of[r.id] for r in rows if r.status == ViolationStatus.PENDING),
                             images_of[rows[1].id])
        # Footage: the files of two processed videos; the first has pending work, the other found nothing.
        depot.mkdir()
        quiet = Video(sha256="0" * 64, filename="x", size_bytes=0, container="mp4", codec="h264", width=640,
                      height=360, duration_s=10.0, status="done")
        session.add(quiet)
        session.flush()
        files = {}
        first = session.scalars(select(Video).order_by(Video.id)).first()
        assert first is not None
        for video, body in ((first, b"first patrol"), (quiet, b"second patrol")):
            path = depot / "car-7" / f"patrol-{video.id}.mp4"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(body * 1000)
            video.filename, video.size_bytes = path.name, path.stat().st_size
            video.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            video.processed_at = long_ago
            files[video.id] = path
        # A file with a processed video's name and size but other bytes is not that video.
        impostor = depot / "elsewhere" / files[quiet.id].name
        impostor.parent.mkdir()
        impostor.write_bytes(b"X" * files[quiet.id].stat().st_size)
        session.commit()
        video_needed = {o.video_id for o in seed.observations if o.frame_sha256 in needed}
    engine.dispose()
    kept_footage = {str(files[v]) for v in files if v in video_needed} | {str(impostor)}
    gone_footage = {str(files[v]) for v in files if v not in video_needed}
    return url, evidence, depot, seed, {"needed": needed, "kept_footage": kept_footage, "gone_footage": gone_footage}


def test_purge_removes_what_no_open_work_needs(world: tuple[str, Path, Path, SeedData, dict[str, set[str]]]) -> None:
    url, evidence, depot, seed, expect = world
    everything = {sha for o in seed.observations for sha in (o.frame_sha256, o.crop_sha256)}
    assert expect["needed"] and expect["gone_footage"] and expect["kept_footage"]
    args = ["purge", "--older-than", "0d", "--db", url, "--evidence", str(evidence), "--footage", str(depot)]

    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{len(everything - expect['needed'])} evidence image(s) and {len(expect['gone_footage'])} footage" \
        in dry.output
    assert all(EvidenceStore(evidence).exists(sha) for sha in everything)  # a dry run changes nothing

    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    store = EvidenceStore(evidence)
    assert {sha for sha in everything if store.exists(sha)} == expect["needed"]
    assert {str(p) for p in depot.rglob("*.mp4")} == expect["kept_footage"]
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        purged = set(session.scalars(select(Evidence.sha256).where(Evidence.purged_at.is_not(None))))
        assert purged == everything - expect["needed"]
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action.in_([PURGE_EVIDENCE, PURGE_FOOTAGE])))
        by_action: dict[str, set[str]] = {}
        for entry in entries:
            by_action.setdefault(entry.action, set()).add(entry.details.get("path", ""))
            assert entry.details["policy"] == "older than 0d"
        assert by_action[PURGE_EVIDENCE] == {str(store.path_for(sha)) for sha in purged}
        assert by_action[PURGE_FOOTAGE] == expect["gone_footage"]
        assert verify_audit_chain(session).ok
    engine.dispose()
    verified = runner.invoke(app, ["audit", "verify", "--db", url, "--evidence", str(evidence)])
    assert verified.exit_code == 0, verified.output  # purged images are no longer expected on disk

    again = runner.invoke(app, args)  # nothing left to purge: no new audit entries
    assert again.exit_code == 0 and "0 evidence image(s) and 0 footage" in again.output


def test_nothing_younger_than_the_cut_off_goes(world: tuple[str, Path, Path, SeedData, dict[str, set[str]]]) -> None:
    url, evidence, depot, seed, _ = world
    result = runner.invoke(app, ["purge", "--older-than", "90d", "--db", url, "--evidence", str(evidence),
                                 "--footage", str(depot)])
    assert result.exit_code == 0, result.output
    assert all(EvidenceStore(evidence).exists(o.frame_sha256) for o in seed.observations)
    assert "0 evidence image(s)" in result.output


@pytest.mark.parametrize("age", ["90", "ninety days", "-5d", "3y"])
def test_a_bad_age_is_refused(tmp_path: Path, age: str) -> None:
    result = runner.invoke(app, ["purge", "--older-than", age, "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2 and "--older-than" in result.output
