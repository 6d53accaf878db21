"""The case state machine (pure): which action moves a case from which state to which, and who may.

States, in the order a case normally goes through them::

    open --file--> filed --dispatch--> dispatched --handle--> handled --check--> checked --close--> closed
                     ^                  |      ^                 |
                     +------return------+      +-----rework------+

- ``open``: the problem was seen (a case gathers sightings at ingest) but no violation of it
  is approved yet. Approving one files the case (立案).
- ``dispatch`` (派遣): sent to the responsible unit; starts the SLA clock (handle and close
  deadlines, see :mod:`streetwatch.casework.deadlines`). Every dispatch restarts the clock.
- ``return`` (回退): the unit says the case is not theirs; back to ``filed`` for re-dispatch.
- ``handle`` (处置): the unit reports the problem fixed.
- ``check`` (核查通过): an inspector confirms on site; ``rework`` (返工): the check failed,
  back to ``dispatched`` for the same unit, whose deadline keeps running (not restarted).
- ``extend`` (延期): a supervisor pushes a dispatched case's deadlines back; the state stays.
- ``close`` (结案): the checked case is closed. A later sighting of the same problem reopens
  it as ``open`` (and counts a recurrence), which ingest does, not this machine.

Who may do what (admin passes every check; a dispatcher or field inspector acts only on
cases routed to their own unit, which the API checks):

==========  =======================  ==================================
action      roles                    from -> to
==========  =======================  ==================================
file        (approval; supervisor)   open -> filed
dispatch    dispatcher, supervisor   filed -> dispatched
return      dispatcher, supervisor   dispatched -> filed
handle      field_inspector, sup.    dispatched -> handled
check       field_inspector, sup.    handled -> checked
rework      field_inspector, sup.    handled -> dispatched
extend      supervisor               dispatched -> dispatched
close       supervisor               checked -> closed
==========  =======================  ==================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from streetwatch.core.errors import ConflictError, ForbiddenError
from streetwatch.core.vocab import CaseAction, CaseStatus, Role


@dataclass(frozen=True, slots=True)
class Transition:
    """One action: the states it may start from, the state it leads to, and who may do it."""

    action: CaseAction
    sources: frozenset[CaseStatus]
    target: CaseStatus
    roles: frozenset[str]
    event_type: str  # the outbox event it emits


def _t(action: CaseAction, sources: Iterable[CaseStatus], target: CaseStatus, roles: Iterable[str],
       event: str) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), event)


S = CaseStatus
TRANSITIONS: Final[dict[CaseAction, Transition]] = {
    t.action: t for t in (
        _t(CaseAction.FILE, [S.OPEN], S.FILED, [Role.SUPERVISOR], "case.filed"),
        _t(CaseAction.DISPATCH, [S.FILED], S.DISPATCHED, [Role.DISPATCHER, Role.SUPERVISOR], "case.dispatched"),
        _t(CaseAction.RETURN, [S.DISPATCHED], S.FILED, [Role.DISPATCHER, Role.SUPERVISOR], "case.returned"),
        _t(CaseAction.HANDLE, [S.DISPATCHED], S.HANDLED, [Role.FIELD_INSPECTOR, Role.SUPERVISOR], "case.handled"),
        _t(CaseAction.CHECK, [S.HANDLED], S.CHECKED, [Role.FIELD_INSPECTOR, Role.SUPERVISOR], "case.checked"),
        _t(CaseAction.REWORK, [S.HANDLED], S.DISPATCHED, [Role.FIELD_INSPECTOR, Role.SUPERVISOR], "case.reworked"),
        _t(CaseAction.EXTEND, [S.DISPATCHED], S.DISPATCHED, [Role.SUPERVISOR], "case.extended"),
        _t(CaseAction.CLOSE, [S.CHECKED], S.CLOSED, [Role.SUPERVISOR], "case.closed"),
    )
}
# States in which the SLA clock runs (a deadline is set and may be missed).
CLOCK_RUNNING: Final = frozenset({S.DISPATCHED, S.HANDLED, S.CHECKED})


class IllegalTransitionError(ConflictError, ValueError):
    """An action that the case's current state does not allow."""

    def __init__(self, state: str, action: str, case_id: int | None = None) -> None:
        self.state = state
        self.action = action
        self.case_id = case_id
        which = f"case {case_id}" if case_id is not None else "a case"
        allowed = ", ".join(a.value for a in allowed_actions(state)) if state in _STATE_VALUES else ""
        super().__init__(
            f"cannot {action} {which} in state {state!r}; allowed from {state!r}: {allowed or 'nothing'}"
        )


class NotPermittedError(ForbiddenError, PermissionError):
    """The user's roles do not allow the action."""


_STATE_VALUES: Final = frozenset(s.value for s in CaseStatus)


def parse_action(value: str) -> CaseAction:
    """The :class:`CaseAction` named ``value``, one of the transitions.

    Raises:
        ValueError: An unknown action name, or one that is not a transition (``notice``).
    """
    try:
        action = CaseAction(value)
    except ValueError:
        action = None
    if action is None or action not in TRANSITIONS:  # notice is a case event, not a transition
        known = ", ".join(a.value for a in TRANSITIONS)
        raise ValueError(f"unknown case action {value!r}; known: {known}") from None
    return action


def allowed_actions(state: str) -> tuple[CaseAction, ...]:
    """The actions possible from ``state``, in workflow order."""
    return tuple(t.action for t in TRANSITIONS.values() if state in t.sources)


def next_state(state: str, action: str, case_id: int | None = None) -> CaseStatus:
    """The state ``action`` leads to from ``state``.

    Raises:
        ValueError: An unknown action.
        IllegalTransitionError: The action is not allowed from ``state``.
    """
    transition = TRANSITIONS[parse_action(action)]
    if state not in transition.sources:
        raise IllegalTransitionError(state, transition.action.value, case_id)
    return transition.target


def may_perform(roles: Iterable[str], action: str) -> bool:
    """Whether someone holding ``roles`` may do ``action`` (admin may do everything)."""
    held = {str(r) for r in roles}
    return Role.ADMIN in held or bool(held & TRANSITIONS[parse_action(action)].roles)


def check_permitted(roles: Iterable[str], action: str) -> None:
    """Raise :class:`NotPermittedError` unless ``roles`` allow ``action``."""
    held = sorted(str(r) for r in roles)
    if not may_perform(held, action):
        needed = " or ".join(sorted(TRANSITIONS[parse_action(action)].roles))
        raise NotPermittedError(f"{action} needs role {needed} (or admin); you have {', '.join(held) or 'none'}")
