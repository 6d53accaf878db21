"""The vocabulary: one StrEnum per vocabulary, each defined once, members that read as their strings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streetwatch.core import vocab

PACKAGE = Path(vocab.__file__).resolve().parents[1]
# Strings that happen to equal a vocabulary's values but name something else.
NOT_A_VOCABULARY = {
    "casework/kpis.py": "KPI counts (filed, dispatched, handled, closed, ...)",
    "casework/report.py": "the report's columns: the KPI counts",
    "casework/deadlines.py": "the two limits of a deadline table entry (handle, close)",
    "cli/model_commands.py": "`streetwatch eval`'s column titles (Ultralytics' validator), not the registry's",
}
VOCABULARIES = [vocab.VideoStatus, vocab.ViolationStatus, vocab.CaseStatus, vocab.CaseAction, vocab.TimeStatus,
                vocab.LocationStatus, vocab.DecisionAction, vocab.RejectReason, vocab.DeliveryStatus,
                vocab.Open311Status, vocab.Role, vocab.LabelKind, vocab.ModelAction, vocab.ScoreName,
                vocab.CoverageKind, vocab.CoverageStatus]


@pytest.mark.parametrize("vocabulary", VOCABULARIES, ids=lambda v: v.__name__)
def test_members_are_their_strings(vocabulary: type[vocab.Vocabulary]) -> None:
    for member in vocabulary:
        assert member == member.value and str(member) == member.value and f"{member}" == member.value
        assert repr(member) == repr(member.value)  # messages read "in state 'filed'"
    assert vocab.values_of(vocabulary) == tuple(m.value for m in vocabulary)


@pytest.mark.parametrize("vocabulary", VOCABULARIES, ids=lambda v: v.__name__)
def test_each_vocabulary_is_defined_once_in_the_package(vocabulary: type[vocab.Vocabulary]) -> None:
    # A second spelling would be a tuple or Literal of the same strings; look for the whole set.
    values = sorted(vocab.values_of(vocabulary))
    if len(values) < 3:
        pytest.skip("too few values to tell a redefinition from a coincidence")
    pattern = re.compile("|".join(re.escape(f'"{v}"') for v in values))
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        where = path.relative_to(PACKAGE).as_posix()
        if path.name == "vocab.py" or "migrations" in path.parts or where in NOT_A_VOCABULARY:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            found = {m.group(0).strip('"') for m in pattern.finditer(line)}
            if len(found) >= 2:  # two values of one vocabulary on one line: a list of them
                offenders.append(f"{where}:{number}: {line.strip()}")
    assert not offenders, "vocabulary spelled outside streetwatch.core.vocab:\n" + "\n".join(offenders)
