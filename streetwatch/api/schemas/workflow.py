"""Request and response models of the case workflow: transitions, case events, KPIs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from streetwatch.api.schemas import CasePublic, UtcDatetime
from streetwatch.casework.case_workflow import NOTE_REQUIRED
from streetwatch.casework.kpis import COUNT_NAMES, RATE_NAMES, KpiRow
from streetwatch.casework.states import TRANSITIONS
from streetwatch.core.vocab import CaseAction, CaseStatus


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CaseTransitionCreate(_In):
    """One step of the case workflow."""

    # Every transition; not "notice", which POST /cases/{id}/notice records.
    action: Annotated[CaseAction, WithJsonSchema({"type": "string", "enum": [a.value for a in TRANSITIONS]})]
    note: str | None = Field(None, max_length=4000, description="Why; required for return, rework and extend.")
    unit: str | None = Field(None, min_length=1, max_length=255,
                             description="dispatch or return: send the case to this unit (supervisor or admin).")
    extend_by: str | None = Field(None, pattern=r"^\s*\d+(\.\d+)?\s*[hd]\s*$", examples=["4h", "1d"],
                                  description="extend: working time to add to both deadlines ('4h', '1d').")

    @model_validator(mode="after")
    def _fits_action(self) -> CaseTransitionCreate:
        if self.action not in TRANSITIONS:
            raise ValueError(f"{self.action} is not a transition: POST /cases/{{id}}/notice issues a notice")
        if (self.extend_by is not None) != (self.action == CaseAction.EXTEND):
            raise ValueError("extend needs extend_by" if self.action == CaseAction.EXTEND
                             else f"extend_by is only for extend, not for {self.action}")
        if self.action in NOTE_REQUIRED and not self.note:
            raise ValueError(f"{self.action} needs a note saying why")
        return self


class CaseEventPublic(BaseModel):
    """One event of a case (append-only): a transition, or a notice issued (`notice`, the state unchanged)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    action: CaseAction
    from_status: CaseStatus
    to_status: CaseStatus
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
