"""Rectification notices (整改通知单) over HTTP: issue one for a case, download the newest.

``POST /cases/{id}/notice`` draws the case's notice in its present state and archives it (the PDF, a
``notice`` case event and a ``case.notice`` audit entry with its sha256); the same case state gives the
same bytes, so posting again without a change archives nothing and answers 200 instead of 201. It needs
a role that works cases (dispatcher, field inspector, supervisor; admin passes); a dispatcher or field
inspector only for cases routed to their unit. ``GET /cases/{id}/notice.pdf`` serves the newest archived
notice to anyone who may see the case, its bytes checked against their sha256 first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from streetwatch.api.auth import AuthenticatedUser, CurrentUser, require_roles
from streetwatch.api.deps import EvidenceStoreDep, SessionDep, TaxonomyDep
from streetwatch.api.routes.workflow import WORKFLOW_ROLES, CaseId, WorkflowConfigDep, _case_for
from streetwatch.api.schemas import ErrorPublic, UtcDatetime
from streetwatch.casework.notice_config import NoticeConfig, load_notices
from streetwatch.casework.notices import issue_notice, notice_pdf

router = APIRouter(tags=["workflow"])


class NoticePublic(BaseModel):
    """An archived notice of a case."""

    id: int
    case_id: int
    notice_number: str = Field(examples=["ZG-20260302-000012"])
    sha256: str = Field(description="sha256 of the PDF's bytes, as recorded in the case's events and the audit log.")
    fingerprint: str = Field(description="sha256 of the notice's content: the case state it was drawn from.")
    size_bytes: int
    issued_by: str
    created_at: UtcDatetime
    created: bool = Field(description="Whether this request archived it (false: the case state is unchanged since "
                                      "its newest notice, which is returned).")
    deadline: str = Field(description="The deadline printed on it (local time of the working calendar).")
    url: str = Field(description="Where to download it.")


def get_notice_config(request: Request) -> NoticeConfig:
    """The notices file of the app's settings (``settings.workflow.notices_path``), read once per app."""
    config: NoticeConfig | None = getattr(request.app.state, "notice_config", None)
    if config is None:
        config = load_notices(request.app.state.settings.workflow.notices_path)
        request.app.state.notice_config = config
    return config


NoticeConfigDep = Annotated[NoticeConfig, Depends(get_notice_config)]
_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic, "description": "Your role may not do this, or the case is another unit's."},
    404: {"model": ErrorPublic, "description": "No case has this id."},
}


@router.post(
    "/cases/{case_id}/notice",
    summary="Issue a rectification notice (整改通知单)",
    response_model=NoticePublic,
    status_code=201,
    responses={200: {"model": NoticePublic, "description": "Unchanged since the newest notice: that one."},
               **_ERRORS,
               409: {"model": ErrorPublic, "description": "The case is open or closed, or its evidence frame is "
                                                          "missing or fails its sha256 check."}},
)
def issue(
    # The caller first: an anonymous or unauthorised request is refused before any config file is read.
    user: Annotated[AuthenticatedUser, Depends(require_roles(*WORKFLOW_ROLES))],
    session: SessionDep, taxonomy: TaxonomyDep, config: WorkflowConfigDep, notices: NoticeConfigDep,
    store: EvidenceStoreDep, case_id: CaseId, response: Response,
) -> NoticePublic:
    """Draw the case's notice (case number, event, place and locator map, evidence frame with its box, legal
    basis of its event code, deadline, issuing unit) and archive it with its sha256 in the case's events and
    the audit log. The same case state always gives the same PDF: posting again archives nothing (200)."""
    _case_for(session, user, case_id)
    issued = issue_notice(session, case_id, actor=user.username, taxonomy=taxonomy, config=config, notices=notices,
                          evidence=store)
    if issued.created:
        session.commit()
    else:
        session.rollback()  # nothing was meant to change (the case row was only locked)
        response.status_code = 200
    notice = issued.notice
    created_at: datetime = notice.created_at
    return NoticePublic(id=notice.id, case_id=notice.case_id, notice_number=notice.notice_number,
                        sha256=notice.sha256, fingerprint=notice.fingerprint, size_bytes=notice.size_bytes,
                        issued_by=notice.issued_by, created_at=created_at, created=issued.created,
                        deadline=issued.content.deadline, url=f"/cases/{case_id}/notice.pdf")


@router.get(
    "/cases/{case_id}/notice.pdf",
    summary="Download the case's newest notice",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The notice PDF."},
               403: _ERRORS[403], 404: {"model": ErrorPublic, "description": "No such case, or no notice yet."},
               409: {"model": ErrorPublic, "description": "The archived PDF no longer hashes to its sha256."}},
)
def download(session: SessionDep, user: CurrentUser, case_id: CaseId) -> Response:
    """The newest archived notice of the case, as issued (its sha256 in the `X-Notice-Sha256` header)."""
    _case_for(session, user, case_id)
    notice = notice_pdf(session, case_id)
    filename = f"notice-{notice.notice_number}.pdf"
    return Response(notice.pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"',
                             "X-Notice-Sha256": notice.sha256, "ETag": f'"{notice.sha256}"'})
