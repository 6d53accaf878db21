"""The baseline rule: an object of a violation class is a candidate violation for review.

It knows no zones, hours or permits; it files every sighting of, say, a parked car as a
pending case for a person to judge. The family rules (parking, stall, garbage, ads) refine
this and fall back to the same candidate, saying why, when they cannot check their conditions.
"""

from __future__ import annotations

from collections.abc import Iterable

from streetwatch.core.types import Observation, Violation
from streetwatch.pipeline.rules.base import RuleContext
from streetwatch.pipeline.rules.reasons import (
    UNVERIFIED,
    describe_motion,
    describe_place,
    describe_time_utc,
    judged,
    label,
)

TAXONOMY_RULE_VERSION = "1"


def candidate(observation: Observation, context: RuleContext, *, rule: str, version: str,
              note: str | None = None) -> list[Violation]:
    """The baseline verdict: a ``role: violation`` class is a candidate of its event, to be reviewed.

    Args:
        observation: What was seen.
        context: The taxonomy (and zones, for routing).
        rule: Name of the rule that files it.
        version: That rule's version.
        note: Why the rule could not decide more (appended to the reason).
    """
    spec = context.taxonomy.lookup(observation.class_name)
    if spec is None or spec.role != "violation":
        return []
    event = context.taxonomy.event_for(spec)
    if event is None:
        return []
    seconds = observation.pts_end_s - observation.pts_start_s
    seen = (describe_motion(observation.motion, spec.name, seconds) if observation.motion is not None
            else f"{label(spec.name)} seen for {seconds:.1f} s")
    reason = (
        f"{seen} in {len(observation.points)} frames "
        f"(best confidence {observation.confidence:.2f}) {describe_place(observation)} at "
        f"{describe_time_utc(observation)}: candidate {event.name_zh} / {event.name_en}, "
        "to be confirmed by review"
    )
    if note:
        reason += f"; {note}"
    return [judged(observation, context, spec, event, rule=rule, version=version, reason=reason,
                   basis=UNVERIFIED)]


class TaxonomyRule:
    """Files every observation of a ``role: violation`` class under its taxonomy event.

    Args:
        skip_families: Families another rule judges; this rule stays silent on them.
    """

    name = "taxonomy"
    version = TAXONOMY_RULE_VERSION

    def __init__(self, skip_families: Iterable[str] = ()) -> None:
        self.skip_families = frozenset(skip_families)

    def evaluate(self, observation: Observation, context: RuleContext) -> list[Violation]:
        spec = context.taxonomy.lookup(observation.class_name)
        if spec is None or spec.family in self.skip_families:
            return []
        return candidate(observation, context, rule=self.name, version=self.version)
