"""Evidence you can stand behind: a flipped byte is never served, never dispatched, repaired by writing again,
and reported by ``streetwatch audit verify``."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from streetwatch.cli.audit_commands import audit_app
from streetwatch.core.settings import Settings
from streetwatch.store.audit import verify_audit_chain
from streetwatch.store.cases import attach_violations, lock_case_areas
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Case, Violation
from streetwatch.store.models_outbox import OutboxEvent
from streetwatch.store.models_workflow import AuditEntry
from tests.api.seed import SeedData
from tests.store.builders import jpeg


def flip_a_byte(path: Path, offset: int = 200) -> bytes:
    """Flip one bit in the middle of a file (its size stays); returns the original bytes."""
    original = path.read_bytes()
    damaged = bytearray(original)
    damaged[offset] ^= 0x01
    path.write_bytes(bytes(damaged))
    return original


def audit_actions(session: Session) -> list[tuple[str, str]]:
    session.rollback()  # see what the app committed since
    return [(e.action, e.entity_id) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


# --- served ---------------------------------------------------------------------------------------

def test_a_flipped_byte_is_not_served_and_is_recorded_once(client: TestClient, seed: SeedData,
                                                           session: Session) -> None:
    sha = seed.observations[0].frame_sha256
    flip_a_byte(EvidenceStore(seed.evidence_dir).path_for(sha))

    for _ in range(2):  # asked again: refused again, logged once
        response = client.get(f"/evidence/{sha}")
        assert response.status_code == 409, response.status_code
        detail = response.json()["detail"]
        assert f"evidence {sha} failed its integrity check" in detail and "audit log" in detail
        assert response.headers["cache-control"] == "no-store" and "etag" not in response.headers
    assert audit_actions(session) == [("evidence.mismatch", sha)]
    assert verify_audit_chain(session).ok
    # The other images are still served.
    other = seed.observations[1].frame_sha256
    assert client.get(f"/evidence/{other}").status_code == 200


# --- dispatched -----------------------------------------------------------------------------------

def filed_case(client: TestClient, session: Session) -> tuple[int, int]:
    """Attach the seed's located violations to cases (as ingest does), approve one: (case id, violation id)."""
    with session.begin():
        located = session.scalars(select(Violation).where(Violation.lat.is_not(None))).all()
        lock_case_areas(session, located, 10.0)
        attach_violations(session, located)
    violation_id = session.scalars(select(Violation.id).where(Violation.status == "pending",
                                                             Violation.case_id.is_not(None))).first()
    session.rollback()
    assert violation_id is not None
    decided = client.post(f"/violations/{violation_id}/decision", json={"action": "approve"})
    assert decided.status_code == 200, decided.text
    return int(decided.json()["case_id"]), violation_id


def test_dispatch_refuses_a_case_with_tampered_evidence(client: TestClient, seed: SeedData,
                                                        session: Session) -> None:
    case_id, violation_id = filed_case(client, session)
    frame = next(o.frame_sha256 for o in seed.observations if o.violation_id == violation_id)
    store = EvidenceStore(seed.evidence_dir)
    original = flip_a_byte(store.path_for(frame))
    before = len(audit_actions(session))

    refused = client.post(f"/cases/{case_id}/transition", json={"action": "dispatch"})

    assert refused.status_code == 409, refused.text
    assert f"case {case_id} cannot be dispatched" in refused.json()["detail"] and frame in refused.json()["detail"]
    session.rollback()
    case = session.get(Case, case_id)
    assert case is not None and case.status == "filed" and case.dispatched_at is None
    assert "case.dispatched" not in session.scalars(select(OutboxEvent.event_type)).all()
    assert audit_actions(session)[before:] == [("case.dispatch_refused", str(case_id)), ("evidence.mismatch", frame)]
    refusal = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.dispatch_refused")).one()
    assert refusal.details["problems"][0]["sha256"] == frame and refusal.actor == "admin"
    assert verify_audit_chain(session).ok

    store.path_for(frame).write_bytes(original)  # restored: the dispatch goes ahead
    sent = client.post(f"/cases/{case_id}/transition", json={"action": "dispatch"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["case"]["status"] == "dispatched"


def test_dispatch_refuses_a_case_whose_evidence_is_missing(client: TestClient, seed: SeedData,
                                                           session: Session) -> None:
    case_id, violation_id = filed_case(client, session)
    crop = next(o.crop_sha256 for o in seed.observations if o.violation_id == violation_id)
    EvidenceStore(seed.evidence_dir).path_for(crop).unlink()

    refused = client.post(f"/cases/{case_id}/transition", json={"action": "dispatch"})

    assert refused.status_code == 409 and f"evidence {crop} is missing" in refused.json()["detail"]
    assert audit_actions(session)[-2:] == [("case.dispatch_refused", str(case_id)), ("evidence.missing", crop)]


# --- re-processing repairs ------------------------------------------------------------------------

def test_writing_an_image_again_repairs_a_damaged_file_of_the_same_size(tmp_path: Path) -> None:
    store, image = EvidenceStore(tmp_path), jpeg(7)
    path = store.put(image)
    flip_a_byte(path, offset=len(image.data) // 2)
    assert hashlib.sha256(path.read_bytes()).hexdigest() != image.sha256

    assert store.put(image) == path  # what re-processing a video does for each of its images

    assert path.read_bytes() == image.data


# --- audit verify ---------------------------------------------------------------------------------

def test_audit_verify_reports_tampered_and_missing_evidence(seed: SeedData, settings: Settings) -> None:
    runner = CliRunner()
    args = ["verify", "--db", settings.db_url, "--evidence", str(seed.evidence_dir)]
    intact = runner.invoke(audit_app, args)
    assert intact.exit_code == 0, intact.output
    assert "evidence intact" in intact.output

    store = EvidenceStore(seed.evidence_dir)
    tampered, missing = seed.observations[3].frame_sha256, seed.observations[4].crop_sha256
    flip_a_byte(store.path_for(tampered))
    store.path_for(missing).unlink()
    broken = runner.invoke(audit_app, args)

    assert broken.exit_code == 1, broken.output
    output = " ".join(broken.output.split())
    assert f"evidence mismatch: evidence {tampered} is damaged or tampered with" in output
    assert f"evidence missing: evidence {missing} is missing" in output
    assert "2 evidence file(s) tampered with, damaged or missing" in output
