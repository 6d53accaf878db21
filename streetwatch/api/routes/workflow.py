"""Case workflow over HTTP: transitions (dispatch, return, handle, check, rework, extend, close), KPIs, 通报.

Who may do which transition is the table in ``streetwatch.casework.states`` (admin may do all):
dispatch/return: dispatcher, supervisor; handle/check/rework: field_inspector, supervisor;
extend/close/file: supervisor. A dispatcher or field inspector acts only on cases routed to
their own unit (403 otherwise), and only a supervisor or admin may send a case to another
unit (``unit`` on dispatch or return). An action the case's state does not allow is 409.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response

from streetwatch.api.auth import AuthenticatedUser, CurrentUser, Role, require_roles
from streetwatch.api.deps import EvidenceStoreDep, SessionDep, TaxonomyDep
from streetwatch.api.errors import BAD_BODY, unprocessable
from streetwatch.api.schemas import CasePublic, DbId, ErrorPublic, QueryTime
from streetwatch.api.schemas.workflow import (
    CaseEventPublic,
    CaseTransitionCreate,
    CaseTransitionPublic,
    KpiRowPublic,
    KpisPublic,
)
from streetwatch.casework.case_workflow import (
    EvidenceRefusedError,
    case_events,
    kpi_events,
    record_dispatch_refusal,
    transition_case,
)
from streetwatch.casework.config import WorkflowConfig, load_workflow_config
from streetwatch.casework.coverage import grid_coverage_rows
from streetwatch.casework.deadlines import TimeLimit
from streetwatch.casework.kpis import compute_kpis
from streetwatch.casework.report import month_bounds, render_csv, render_markdown
from streetwatch.casework.report_data import CoverageSource, build_monthly_report, month_kpis
from streetwatch.casework.report_pdf import render_pdf
from streetwatch.store import queries
from streetwatch.store.models import Case, utcnow

router = APIRouter(tags=["workflow"])
WORKFLOW_ROLES = (Role.DISPATCHER, Role.FIELD_INSPECTOR, Role.SUPERVISOR)
KPI_ROLES = (Role.SUPERVISOR, Role.DISPATCHER, Role.FIELD_INSPECTOR, Role.REVIEWER)


def get_workflow_config(request: Request) -> WorkflowConfig:
    """Deadlines, holidays, units and grid zones, read once per app on first use.

    The files are those of the settings the app was created with (``settings.workflow``): the
    environment is not read again here.
    """
    config: WorkflowConfig | None = getattr(request.app.state, "workflow_config", None)
    if config is None:
        settings = request.app.state.settings
        config = load_workflow_config(settings.case_radius_m, settings.zones_paths, settings.workflow)
        request.app.state.workflow_config = config
    return config


WorkflowConfigDep = Annotated[WorkflowConfig, Depends(get_workflow_config)]


def _case_for(session: SessionDep, user: AuthenticatedUser, case_id: int) -> Case:
    case = queries.find_case(session, case_id)
    if case is None:
        raise HTTPException(404, f"case {case_id} not found")
    if not user.can_see_unit(case.unit):
        raise HTTPException(403, f"case {case_id} is not routed to your unit")
    return case


CaseId = Annotated[DbId, Path(description="The case's id.")]


@router.post(
    "/cases/{case_id}/transition",
    summary="Move a case through the workflow",
    response_model=CaseTransitionPublic,
    responses={403: {"model": ErrorPublic, "description": "Your role may not do this, or not for this unit."},
               404: {"model": ErrorPublic, "description": "No case has this id."},
               409: {"model": ErrorPublic, "description": "The case's state does not allow the action, or (dispatch) "
                                                          "its evidence is missing or fails its sha256 check."},
               **BAD_BODY},
)
def transition(
    session: SessionDep, taxonomy: TaxonomyDep, config: WorkflowConfigDep, store: EvidenceStoreDep, case_id: CaseId,
    body: CaseTransitionCreate, user: Annotated[AuthenticatedUser, Depends(require_roles(*WORKFLOW_ROLES))],
) -> CaseTransitionPublic:
    """Apply one action: `dispatch` starts the SLA clock (deadlines from `models/workflow/deadlines.yaml`),
    `return` sends it back for re-dispatch, `handle` / `check` / `rework` record the unit's work and the
    on-site check, `extend` adds working time to the deadlines, `close` closes it. A dispatch first checks
    every evidence image of the case against its sha256 and is refused (409, recorded in the audit log) when
    one is missing or damaged."""
    _case_for(session, user, case_id)
    if body.unit is not None and not user.sees_all_units:
        raise HTTPException(403, "only a supervisor or admin may send a case to another unit")
    # Not permitted 403, illegal from this state 409, no such case 404, bad input 422: the app's
    # StreetwatchError handler answers each with its class's status.
    try:
        event = transition_case(
            session, case_id, body.action, actor=user.username, roles=user.roles, config=config, note=body.note,
            unit=body.unit, extend_by=TimeLimit.parse(body.extend_by) if body.extend_by else None, evidence=store,
        )
    except EvidenceRefusedError as refusal:
        session.rollback()  # nothing of the refused transition stays; its refusal is recorded on its own
        record_dispatch_refusal(session, refusal, actor=user.username)
        session.commit()
        raise
    session.commit()
    case = queries.find_case(session, case_id)
    assert case is not None  # just moved it
    return CaseTransitionPublic(case=CasePublic.from_row(case, taxonomy), event=CaseEventPublic.model_validate(event))


@router.get(
    "/cases/{case_id}/events",
    summary="A case's history",
    response_model=list[CaseEventPublic],
    responses={403: {"model": ErrorPublic, "description": "The case is routed to another unit."},
               404: {"model": ErrorPublic, "description": "No case has this id."}},
)
def list_case_events(session: SessionDep, user: CurrentUser, case_id: CaseId) -> list[CaseEventPublic]:
    """Every transition of the case, oldest first."""
    _case_for(session, user, case_id)
    return [CaseEventPublic.model_validate(e) for e in case_events(session, case_id)]


# --- KPIs and the monthly report ---------------------------------------------------------------------

def _scope_unit(user: AuthenticatedUser, unit: str | None) -> str | None:
    scope = user.unit_scope  # None for city-wide roles; 403 for a unit-scoped user without a unit
    if scope is not None and unit is not None and unit != scope:
        raise HTTPException(403, f"you may only see the KPIs of your unit {scope!r}")
    return scope or unit


def _aware(value: datetime | None, default: datetime, config: WorkflowConfig) -> datetime:
    if value is None:
        return default
    return value.replace(tzinfo=config.deadlines.calendar.timezone) if value.tzinfo is None else value


@router.get("/kpis", summary="Workflow KPIs", response_model=KpisPublic,
            responses={403: {"model": ErrorPublic, "description": "Another unit's KPIs."}})
def kpis(
    session: SessionDep, config: WorkflowConfigDep,
    user: Annotated[AuthenticatedUser, Depends(require_roles(*KPI_ROLES))],
    unit: Annotated[str | None, Query(max_length=255, description="Only this responsible unit.")] = None,
    grid: Annotated[str | None, Query(max_length=64, description="Only this grid.")] = None,
    since: Annotated[QueryTime | None, Query(description="Period start (default: 30 days before until); "
                                                         "naive times are in the calendar's time zone; "
                                                         "1900 to 2999.")] = None,
    until: Annotated[QueryTime | None, Query(description="Period end, exclusive (default: now).")] = None,
) -> KpisPublic:
    """处置率, 按期处置率, 结案率, 按期结案率, 返工率, 延期率 and average handling time, per unit and grid.

    A dispatcher or field inspector sees their own unit's only.
    """
    unit = _scope_unit(user, unit)
    end = _aware(until, utcnow(), config)
    start = _aware(since, end - timedelta(days=30), config)
    if start >= end:
        raise unprocessable(f"since ({start.isoformat()}) must be before until ({end.isoformat()})", "query",
                            "since" if since is not None else "until")
    events = kpi_events(session, start, end)
    common: dict[str, Any] = {"since": start, "until": end, "unit": unit, "grid_id": grid,
                              "calendar": config.deadlines.calendar}
    return KpisPublic(
        since=start, until=end, unit=unit, grid=grid,
        total=KpiRowPublic.from_row(compute_kpis(events, **common)[0]),
        by_unit=[KpiRowPublic.from_row(r) for r in compute_kpis(events, group_by="unit", **common)],
        by_grid=[KpiRowPublic.from_row(r) for r in compute_kpis(events, group_by="grid", **common)],
    )


def get_coverage_source(request: Request, session: SessionDep) -> CoverageSource | None:
    """Patrol coverage per grid for the report: ``app.state.coverage_source`` when one is set, else the
    coverage module's rows for the city's grids (``streetwatch.casework.coverage.grid_coverage_rows``)."""
    source: CoverageSource | None = getattr(request.app.state, "coverage_source", None)
    if source is not None:
        return source
    from streetwatch.api.routes.coverage import get_coverage_config  # the coverage routes read the config once

    config = get_coverage_config(request)
    if not config.grids:
        return None  # no city grids (zones of kind grid) configured: the report says it has no coverage data
    return lambda since, until: grid_coverage_rows(session, config, since, until)


@router.get(
    "/reports/monthly",
    summary="Monthly report (通报)",
    # Errors are JSON like everywhere else: the report's own media types are listed for 200 only.
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}, "text/csv": {}, "application/pdf": {}},
                     "description": "The report."}},
)
def monthly_report(
    request: Request, session: SessionDep, config: WorkflowConfigDep, taxonomy: TaxonomyDep,
    user: Annotated[AuthenticatedUser, Depends(require_roles(Role.SUPERVISOR, Role.REVIEWER))],
    coverage: Annotated[CoverageSource | None, Depends(get_coverage_source)],
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", examples=["2026-11"],
                                       description="YYYY-MM (default: this month, so far).")] = None,
    report_format: Annotated[Literal["md", "csv", "pdf"], Query(
        alias="format", description="md (Markdown), csv, or pdf (with charts, trend, recurring places, "
                                    "overdue cases and coverage).")] = "md",
) -> Response:
    """The month's KPIs overall, per unit and per grid, units ranked by 按期结案率, as Markdown, CSV or PDF.

    Its figures are those of `GET /kpis` with `since` and `until` at the month's bounds (the calendar's
    time zone)."""
    calendar = config.deadlines.calendar
    month = month or utcnow().astimezone(calendar.timezone).strftime("%Y-%m")
    try:
        month_bounds(month, calendar.timezone)
    except ValueError as exc:
        raise unprocessable(str(exc), "query", "month", value=month) from None
    if report_format == "pdf":
        pack = build_monthly_report(session, month, calendar, coverage=coverage)
        names = {name: spec.name_zh for name, spec in taxonomy.families.items()}
        pdf = render_pdf(pack, family_names=names, font_path=request.app.state.settings.web.report_font_path)
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="report-{month}.pdf"'})
    report = month_kpis(session, month, calendar)
    if report_format == "csv":
        return PlainTextResponse(render_csv(report), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="report-{month}.csv"'})
    return PlainTextResponse(render_markdown(report), media_type="text/markdown; charset=utf-8")
