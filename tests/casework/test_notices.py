"""Rectification notices on SQLite and PostgreSQL: the PDF's text (pdftotext), byte-identical reissues,
the archive, the case's history and the audit chain, and the cases a notice is refused for."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.case_workflow import case_events, kpi_events, transition_case
from streetwatch.casework.config import WorkflowConfig, load_workflow_config
from streetwatch.casework.kpis import compute_kpis
from streetwatch.casework.notice_config import NoticeConfig, NoticeConfigError, load_notices, parse_notices
from streetwatch.casework.notice_content import NoticeRefusedError, case_number
from streetwatch.casework.notice_pdf import NoticeFontError, find_cjk_font
from streetwatch.casework.notices import NOTICE_AUDIT_ACTION, case_notices, issue_notice, notice_pdf
from streetwatch.casework.states import parse_action
from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import Taxonomy, load_taxonomy
from streetwatch.core.vocab import CaseAction
from streetwatch.store.audit import verify_audit_chain
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Case, Observation, Violation
from streetwatch.store.models_notices import Notice
from streetwatch.store.models_workflow import AuditEntry
from streetwatch.store.notice_checks import notice_problems
from tests.casework.notice_builders import FILED_AT, add_filed_case, pdf_text

REPO = Path(__file__).resolve().parents[2]
NOTICES_PATH = REPO / "models" / "workflow" / "notices.yaml"
ZONES = REPO / "models" / "zones" / "sample-zones.geojson"
SH = ZoneInfo("Asia/Shanghai")
SUP = frozenset({"supervisor"})


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(DEFAULT_TAXONOMY)


@pytest.fixture(scope="module")
def notices() -> NoticeConfig:
    return load_notices(NOTICES_PATH)


@pytest.fixture(scope="module")
def config() -> WorkflowConfig:
    return load_workflow_config(10.0, [ZONES])


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def issue(factory: sessionmaker[Session], tmp_path: Path, taxonomy: Taxonomy, notices: NoticeConfig,
          config: WorkflowConfig):  # type: ignore[no-untyped-def]
    """``issue(case_id)`` issues the case's notice in a session of its own and commits it."""
    def run(case_id: int, actor: str = "dispatcher1"):  # type: ignore[no-untyped-def]
        with factory() as session:
            issued = issue_notice(session, case_id, actor=actor, taxonomy=taxonomy, config=config, notices=notices,
                                  evidence=EvidenceStore(tmp_path / "evidence"))
            session.commit()
            return issued
    return run


def test_notice_prints_the_case_and_is_archived_with_its_hash_in_history_and_audit(
    factory: sessionmaker[Session], tmp_path: Path, issue, config: WorkflowConfig,  # type: ignore[no-untyped-def]
    taxonomy: Taxonomy, notices: NoticeConfig,
) -> None:
    case_id = add_filed_case(factory, tmp_path / "evidence", config, extra={"address": "人民路 100 号门前"})
    issued = issue(case_id)
    assert issued.created
    pdf = issued.notice.pdf
    assert pdf.startswith(b"%PDF-") and hashlib.sha256(pdf).hexdigest() == issued.notice.sha256
    path = tmp_path / "notice.pdf"
    path.write_bytes(pdf)
    text = pdf_text(path)
    # Filed, not dispatched: the deadline is the rules' handling limit counted from filing.
    due = config.deadlines.deadlines("0508", FILED_AT).handle_due.astimezone(SH)
    assert due > FILED_AT
    for expected in (case_number(case_id), "整改通知单", "机动车乱停放", "illegal parking of motor vehicle",
                     f"{due:%Y-%m-%d %H:%M}", "人民路 100 号门前", notices.issuing_unit, "31.230400, 121.473700",
                     "第五十六条"):
        assert expected in text, f"{expected!r} not in the notice's text:\n{text}"
    with factory() as session:
        events = case_events(session, case_id)
        assert [e.action for e in events] == [CaseAction.FILE, CaseAction.NOTICE]
        notice_event = events[-1]
        assert notice_event.from_status == notice_event.to_status == "filed"
        assert notice_event.details["sha256"] == issued.notice.sha256
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == NOTICE_AUDIT_ACTION)).one()
        assert entry.entity_id == str(case_id) and entry.details["sha256"] == issued.notice.sha256
        assert entry.details["event_id"] == notice_event.id
        assert verify_audit_chain(session).ok
        assert session.get(Case, case_id).status == "filed"  # type: ignore[union-attr]
        # The KPIs read the case's events: a notice changes none of them.
        until = FILED_AT.replace(year=2027)
        records = kpi_events(session, FILED_AT, until)
        assert CaseAction.NOTICE in [r.action for r in records]
        rows = compute_kpis(records, since=FILED_AT, until=until, calendar=config.deadlines.calendar)
        assert rows[0].filed == 1 and rows[0].dispatched == 0


def test_same_case_state_gives_the_same_bytes_and_a_new_state_a_new_notice(
    factory: sessionmaker[Session], tmp_path: Path, issue, config: WorkflowConfig,  # type: ignore[no-untyped-def]
) -> None:
    case_id = add_filed_case(factory, tmp_path / "evidence", config)
    first = issue(case_id)
    again = issue(case_id, actor="someone_else")
    assert not again.created and again.notice.id == first.notice.id
    assert again.content == first.content and again.content.fingerprint() == first.notice.fingerprint
    with factory() as session:
        assert len(case_notices(session, case_id)) == 1
        assert [e.action for e in case_events(session, case_id)].count(CaseAction.NOTICE) == 1
    # Dispatch: the deadline is now the case's own handle_due, a new notice.
    dispatched_at = FILED_AT.replace(hour=3)
    with factory() as session:
        transition_case(session, case_id, "dispatch", actor="sup", roles=SUP, config=config, now=dispatched_at)
        session.commit()
        handle_due = session.get(Case, case_id).handle_due  # type: ignore[union-attr]
    second = issue(case_id)
    assert second.created and second.notice.sha256 != first.notice.sha256
    assert second.content.deadline == f"{handle_due.astimezone(SH):%Y-%m-%d %H:%M}"
    assert second.content.deadline_source == "dispatch" and second.content.issued_on == f"{dispatched_at:%Y-%m-%d}"
    with factory() as session:
        assert notice_pdf(session, case_id).id == second.notice.id
        shas = [e.details["sha256"] for e in case_events(session, case_id) if e.action == CaseAction.NOTICE]
        assert shas == [first.notice.sha256, second.notice.sha256]
        assert verify_audit_chain(session).ok


def test_refused_for_an_open_or_closed_case_and_for_damaged_evidence(
    factory: sessionmaker[Session], tmp_path: Path, issue, config: WorkflowConfig,  # type: ignore[no-untyped-def]
) -> None:
    open_case = add_filed_case(factory, tmp_path / "evidence", config, seed=2, file=False)
    with pytest.raises(NoticeRefusedError, match="not filed yet"):
        issue(open_case)
    case_id = add_filed_case(factory, tmp_path / "evidence", config, seed=3, point=(31.2310, 121.4750))
    with factory() as session:
        frame = session.scalars(select(Observation.frame_sha256).join(Violation)
                                .where(Violation.case_id == case_id)).one()
    damaged = EvidenceStore(tmp_path / "evidence").path_for(frame)
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.raises(NoticeRefusedError, match="evidence frame cannot be used"):
        issue(case_id)
    with factory.begin() as session:
        session.execute(update(Case).where(Case.id == case_id).values(status="closed"))
    with pytest.raises(NoticeRefusedError, match="closed"):
        issue(case_id)
    with factory() as session:
        assert case_notices(session, case_id) == [] and case_notices(session, open_case) == []
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == NOTICE_AUDIT_ACTION)).all() == []


def test_notice_is_a_case_event_not_a_transition(factory: sessionmaker[Session], config: WorkflowConfig) -> None:
    with pytest.raises(ValueError, match="unknown case action 'notice'"):
        parse_action("notice")
    with factory() as session, pytest.raises(ValueError, match="unknown case action 'notice'"):
        transition_case(session, 1, "notice", actor="sup", roles=SUP, config=config)


def test_sample_notices_file_covers_every_event_code(taxonomy: Taxonomy, notices: NoticeConfig) -> None:
    assert set(taxonomy.events) <= set(notices.events)
    assert all(b.text_zh and "《" in b.text_zh for b in notices.events.values())
    assert notices.basis_for("9999") == notices.default


@pytest.mark.parametrize(("change", "message"), [
    ({"issuing_unit": ""}, "'issuing_unit' is required"),
    ({"version": 2}, "unsupported version"),
    ({"default": "text"}, "expected a mapping with 'basis'"),
    ({"events": {"0508": {"basis_en": "only English"}}}, "event '0508': 'basis' is required"),
    ({"demand": "很长" * 300}, "a notice prints at most"),
])
def test_bad_notices_files_are_refused_with_the_reason(change: dict[str, object], message: str) -> None:
    raw = yaml.safe_load(NOTICES_PATH.read_text(encoding="utf-8"))
    raw.update(change)
    with pytest.raises(NoticeConfigError, match=message):
        parse_notices(raw, "notices.yaml")


def test_missing_cjk_font_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(NoticeFontError, match="apt-get install fonts-wqy-zenhei"):
        find_cjk_font((tmp_path / "nothing.ttc",))


def test_audit_verify_checks_the_archived_notices_against_the_audit_log(
    factory: sessionmaker[Session], tmp_path: Path, issue, config: WorkflowConfig,  # type: ignore[no-untyped-def]
) -> None:
    case_id = add_filed_case(factory, tmp_path / "evidence", config)
    issued = issue(case_id)
    with factory() as session:
        assert notice_problems(session) == (1, [])
    forged = issued.notice.pdf.replace(b"/Creator", b"/Creatox")
    with factory.begin() as session:  # the bytes changed: they no longer hash to the recorded sha256
        session.execute(update(Notice).where(Notice.id == issued.notice.id).values(pdf=forged))
    with factory() as session:
        checked, problems = notice_problems(session)
        assert checked == 1 and len(problems) == 1 and "changed after it was issued" in problems[0]
        with pytest.raises(NoticeRefusedError, match="changed after it was archived"):
            notice_pdf(session, case_id)
    with factory.begin() as session:  # bytes and sha256 rewritten together: the audit entry still knows
        session.execute(update(Notice).where(Notice.id == issued.notice.id)
                        .values(sha256=hashlib.sha256(forged).hexdigest()))
    with factory() as session:
        _, problems = notice_problems(session)
        assert len(problems) == 1 and "the audit log recorded sha256 " + issued.notice.sha256 in problems[0]
        assert verify_audit_chain(session).ok  # the chain itself is intact: only the archive was touched
