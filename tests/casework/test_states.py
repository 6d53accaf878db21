"""The case state machine: every (state, action) pair, and who may do what."""

from __future__ import annotations

import pytest

from streetwatch.casework.states import (
    TRANSITIONS,
    IllegalTransitionError,
    NotPermittedError,
    allowed_actions,
    check_permitted,
    may_perform,
    next_state,
)
from streetwatch.core.vocab import CaseStatus as CaseState

# Every legal move; every other (state, action) pair must be refused.
LEGAL = {
    ("open", "file"): "filed",
    ("filed", "dispatch"): "dispatched",
    ("dispatched", "return"): "filed",
    ("dispatched", "handle"): "handled",
    ("dispatched", "extend"): "dispatched",
    ("handled", "check"): "checked",
    ("handled", "rework"): "dispatched",
    ("checked", "close"): "closed",
}
# Every transition (CaseAction.NOTICE is a case event, not a transition: parse_action refuses it).
ALL_PAIRS = [(s.value, a.value) for s in CaseState for a in TRANSITIONS]


@pytest.mark.parametrize(("state", "action"), ALL_PAIRS)
def test_every_state_action_pair(state: str, action: str) -> None:
    expected = LEGAL.get((state, action))
    if expected is None:
        with pytest.raises(IllegalTransitionError, match=f"cannot {action} case 7 in state '{state}'") as info:
            next_state(state, action, case_id=7)
        assert info.value.state == state and info.value.action == action
    else:
        assert next_state(state, action) == expected


def test_the_happy_path_and_detours() -> None:
    state = "open"
    for action in ["file", "dispatch", "return", "dispatch", "extend", "handle", "rework", "handle", "check",
                   "close"]:
        state = next_state(state, action)
    assert state == "closed"


@pytest.mark.parametrize(
    ("state", "actions"),
    [("open", ["file"]), ("filed", ["dispatch"]), ("dispatched", ["return", "handle", "extend"]),
     ("handled", ["check", "rework"]), ("checked", ["close"]), ("closed", [])],
)
def test_allowed_actions(state: str, actions: list[str]) -> None:
    assert [a.value for a in allowed_actions(state)] == actions


def test_illegal_message_lists_what_is_allowed() -> None:
    with pytest.raises(IllegalTransitionError, match="allowed from 'handled': check, rework"):
        next_state("handled", "close")
    with pytest.raises(IllegalTransitionError, match="allowed from 'closed': nothing"):
        next_state("closed", "dispatch")


def test_unknown_action_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown case action 'teleport'; known: file, dispatch"):
        next_state("filed", "teleport")


ROLE_TABLE = {
    # action: roles that may (admin may always; nobody else may)
    "file": {"supervisor"},
    "dispatch": {"dispatcher", "supervisor"},
    "return": {"dispatcher", "supervisor"},
    "handle": {"field_inspector", "supervisor"},
    "check": {"field_inspector", "supervisor"},
    "rework": {"field_inspector", "supervisor"},
    "extend": {"supervisor"},
    "close": {"supervisor"},
}
ROLES = ["reviewer", "dispatcher", "field_inspector", "supervisor", "admin"]


@pytest.mark.parametrize("action", list(ROLE_TABLE))
@pytest.mark.parametrize("role", ROLES)
def test_role_table(action: str, role: str) -> None:
    allowed = role == "admin" or role in ROLE_TABLE[action]
    assert may_perform({role}, action) is allowed
    if allowed:
        check_permitted({role}, action)
    else:
        with pytest.raises(NotPermittedError, match=f"{action} needs role .* you have {role}"):
            check_permitted({role}, action)


def test_no_roles_may_do_nothing() -> None:
    assert not any(may_perform(set(), a) for a in TRANSITIONS)
