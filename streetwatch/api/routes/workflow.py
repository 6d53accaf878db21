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
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from streetwatch.api.auth import AuthenticatedUser, CurrentUser, Role, require_roles
from streetwatch.api.deps import SessionDep, TaxonomyDep
from streetwatch.api.schemas import CasePublic, ErrorPublic, UtcDatetime
from streetwatch.casework.case_workflow import (
    CaseNotFoundError,
    TransitionInputError,
    case_events,
    kpi_events,
    transition_case,
)
from streetwatch.casework.config import WorkflowConfig, load_workflow_config
from streetwatch.casework.deadlines import CalendarError, TimeLimit
from streetwatch.casework.kpis import COUNT_NAMES, RATE_NAMES, KpiRow, compute_kpis
from streetwatch.casework.report import MonthlyReport, month_bounds, render_csv, render_markdown
from streetwatch.casework.states import IllegalTransitionError, NotPermittedError
from streetwatch.store import queries
from streetwatch.store.models import Case, utcnow

router = APIRouter(tags=["workflow"])
WORKFLOW_ROLES = (Role.DISPATCHER, Role.FIELD_INSPECTOR, Role.SUPERVISOR)
KPI_ROLES = (Role.SUPERVISOR, Role.DISPATCHER, Role.FIELD_INSPECTOR, Role.REVIEWER)


def get_workflow_config(request: Request) -> WorkflowConfig:
    """Deadlines, holidays, units and grid zones, read once per app on first use."""
    config: WorkflowConfig | None = getattr(request.app.state, "workflow_config", None)
    if config is None:
        settings = request.app.state.settings
        config = load_workflow_config(settings.case_radius_m, settings.zones_paths)
        request.app.state.workflow_config = config
    return config


WorkflowConfigDep = Annotated[WorkflowConfig, Depends(get_workflow_config)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CaseTransitionCreate(_In):
    """One step of the case workflow."""

    action: Literal["file", "dispatch", "return", "handle", "check", "rework", "extend", "close"]
    note: str | None = Field(None, max_length=4000, description="Why; required for return, rework and extend.")
    unit: str | None = Field(None, min_length=1, max_length=255,
                             description="dispatch or return: send the case to this unit (supervisor or admin).")
    extend_by: str | None = Field(None, pattern=r"^\s*\d+(\.\d+)?\s*[hd]\s*$", examples=["4h", "1d"],
                                  description="extend: working time to add to both deadlines ('4h', '1d').")

    @model_validator(mode="after")
    def _fits_action(self) -> CaseTransitionCreate:
        if (self.extend_by is not None) != (self.action == "extend"):
            raise ValueError("extend needs extend_by" if self.action == "extend"
                             else f"extend_by is only for extend, not for {self.action}")
        if self.action in ("return", "rework", "extend") and not self.note:
            raise ValueError(f"{self.action} needs a note saying why")
        return self


class CaseEventPublic(BaseModel):
    """One transition of a case (append-only)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    action: str
    from_status: str
    to_status: str
    actor: str
    note: str | None
    unit: str | None
    grid_id: str | None
    handle_due: UtcDatetime | None = Field(description="The handling deadline in force after the event.")
    close_due: UtcDatetime | None = Field(description="The closing deadline in force after the event.")
    details: dict[str, Any]
    created_at: UtcDatetime


class CaseTransitionPublic(BaseModel):
    """The case after a transition, and the event that recorded it."""

    case: CasePublic
    event: CaseEventPublic


def _case_for(session: SessionDep, user: AuthenticatedUser, case_id: int) -> Case:
    case = queries.find_case(session, case_id)
    if case is None:
        raise HTTPException(404, f"case {case_id} not found")
    if not user.can_see_unit(case.unit):
        raise HTTPException(403, f"case {case_id} is not routed to your unit")
    return case


CaseId = Annotated[int, Path(ge=1, description="The case's id.")]


@router.post(
    "/cases/{case_id}/transition",
    summary="Move a case through the workflow",
    response_model=CaseTransitionPublic,
    responses={403: {"model": ErrorPublic, "description": "Your role may not do this, or not for this unit."},
               404: {"model": ErrorPublic, "description": "No case has this id."},
               409: {"model": ErrorPublic, "description": "The case's state does not allow the action."}},
)
def transition(
    session: SessionDep, taxonomy: TaxonomyDep, config: WorkflowConfigDep, case_id: CaseId,
    body: CaseTransitionCreate, user: Annotated[AuthenticatedUser, Depends(require_roles(*WORKFLOW_ROLES))],
) -> CaseTransitionPublic:
    """Apply one action: `dispatch` starts the SLA clock (deadlines from `models/workflow/deadlines.yaml`),
    `return` sends it back for re-dispatch, `handle` / `check` / `rework` record the unit's work and the
    on-site check, `extend` adds working time to the deadlines, `close` closes it."""
    _case_for(session, user, case_id)
    if body.unit is not None and not user.sees_all_units:
        raise HTTPException(403, "only a supervisor or admin may send a case to another unit")
    try:
        event = transition_case(
            session, case_id, body.action, actor=user.username, roles=user.roles, config=config, note=body.note,
            unit=body.unit, extend_by=TimeLimit.parse(body.extend_by) if body.extend_by else None,
        )
    except NotPermittedError as exc:
        raise HTTPException(403, str(exc)) from None
    except IllegalTransitionError as exc:
        raise HTTPException(409, str(exc)) from None
    except CaseNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except (TransitionInputError, CalendarError) as exc:
        raise HTTPException(422, str(exc)) from None
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

class KpiRowPublic(BaseModel):
    """Counts and rates of one unit, grid, or everything (``key`` null)."""

    key: str | None
    filed: int
    dispatched: int
    handled: int
    handled_on_time: int
    closed: int
    closed_on_time: int
    ever_handled: int
    reworked: int
    extended: int
    disposal_rate: float | None = Field(description="处置率 = handled / dispatched.")
    on_time_disposal_rate: float | None = Field(description="按期处置率 = handled on time / dispatched.")
    closure_rate: float | None = Field(description="结案率 = closed / filed.")
    on_time_closure_rate: float | None = Field(description="按期结案率 = closed on time / filed.")
    rework_rate: float | None = Field(description="返工率 = reworked / ever handled.")
    extension_rate: float | None = Field(description="延期率 = extended / dispatched.")
    avg_handling_hours: float | None = Field(description="Mean time from dispatch to handling, hours.")
    avg_handling_working_hours: float | None = Field(description="The same in working hours.")

    @classmethod
    def from_row(cls, row: KpiRow) -> KpiRowPublic:
        return cls(key=row.key, **{n: getattr(row, n) for n in (*COUNT_NAMES, *RATE_NAMES)},
                   avg_handling_hours=row.avg_handling_hours,
                   avg_handling_working_hours=row.avg_handling_working_hours)


class KpisPublic(BaseModel):
    """KPIs of a period (see ``streetwatch.casework.kpis`` for how each is counted)."""

    since: UtcDatetime
    until: UtcDatetime
    unit: str | None
    grid: str | None
    total: KpiRowPublic
    by_unit: list[KpiRowPublic]
    by_grid: list[KpiRowPublic]


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
    since: Annotated[datetime | None, Query(description="Period start (default: 30 days before until); "
                                                        "naive times are in the calendar's time zone.")] = None,
    until: Annotated[datetime | None, Query(description="Period end, exclusive (default: now).")] = None,
) -> KpisPublic:
    """处置率, 按期处置率, 结案率, 按期结案率, 返工率, 延期率 and average handling time, per unit and grid.

    A dispatcher or field inspector sees their own unit's only.
    """
    unit = _scope_unit(user, unit)
    end = _aware(until, utcnow(), config)
    start = _aware(since, end - timedelta(days=30), config)
    if start >= end:
        raise HTTPException(422, f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    events = kpi_events(session, start, end)
    common: dict[str, Any] = {"since": start, "until": end, "unit": unit, "grid_id": grid,
                              "calendar": config.deadlines.calendar}
    return KpisPublic(
        since=start, until=end, unit=unit, grid=grid,
        total=KpiRowPublic.from_row(compute_kpis(events, **common)[0]),
        by_unit=[KpiRowPublic.from_row(r) for r in compute_kpis(events, group_by="unit", **common)],
        by_grid=[KpiRowPublic.from_row(r) for r in compute_kpis(events, group_by="grid", **common)],
    )


@router.get(
    "/reports/monthly",
    summary="Monthly report (通报)",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}, "text/csv": {}}}},
)
def monthly_report(
    session: SessionDep, config: WorkflowConfigDep,
    user: Annotated[AuthenticatedUser, Depends(require_roles(Role.SUPERVISOR, Role.REVIEWER))],
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", examples=["2026-11"],
                                       description="YYYY-MM (default: this month, so far).")] = None,
    report_format: Annotated[Literal["md", "csv"], Query(alias="format", description="md (Markdown) or csv.")]
    = "md",
) -> PlainTextResponse:
    """The month's KPIs overall, per unit and per grid, units ranked by 按期结案率, as Markdown or CSV."""
    month = month or utcnow().astimezone(config.deadlines.calendar.timezone).strftime("%Y-%m")
    try:
        since, until = month_bounds(month, config.deadlines.calendar.timezone)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    events = kpi_events(session, since, until)
    common: dict[str, Any] = {"since": since, "until": until, "calendar": config.deadlines.calendar}
    report = MonthlyReport(
        month=month, since=since, until=until, total=compute_kpis(events, **common)[0],
        by_unit=compute_kpis(events, group_by="unit", **common),
        by_grid=compute_kpis(events, group_by="grid", **common), generated_at=utcnow(),
    )
    if report_format == "csv":
        return PlainTextResponse(render_csv(report), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="report-{month}.csv"'})
    return PlainTextResponse(render_markdown(report), media_type="text/markdown; charset=utf-8")
