"""The baseline rule: an object of a violation class is a candidate violation for review.

It knows no zones, hours or permits; it files every sighting of, say, a parked car as a
pending case for a person to judge. Zone-, hour- and permit-aware rules refine this.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.rules.base import RuleContext
from pipeline.types import LocationStatus, Observation, Violation


def describe_place(observation: Observation) -> str:
    location = observation.location
    if location.status is LocationStatus.UNKNOWN:
        return "location unknown (no GPS fix at that time)"
    where = f"{location.lat:.6f}, {location.lon:.6f}"
    if location.status is LocationStatus.CAMERA:
        return f"near {where} (camera position; distance not measurable)"
    return f"at {where} ({location.range_m:.0f} m from the camera)"


def describe_time(observation: Observation) -> str:
    if observation.time_utc is None:
        return f"{observation.best.pts_s:.1f} s into the video"
    return datetime.fromtimestamp(observation.time_utc, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class TaxonomyRule:
    """Files every observation of a ``role: violation`` class under its taxonomy event."""

    name = "taxonomy"
    version = "1"

    def evaluate(self, observation: Observation, context: RuleContext) -> list[Violation]:
        spec = context.taxonomy.lookup(observation.class_name)
        if spec is None or spec.role != "violation":
            return []
        event = context.taxonomy.event_for(spec)
        if event is None:
            return []
        seconds = observation.pts_end_s - observation.pts_start_s
        reason = (
            f"{spec.name.replace('_', ' ')} seen for {seconds:.1f} s in {len(observation.points)} frames "
            f"(best confidence {observation.confidence:.2f}) {describe_place(observation)} at "
            f"{describe_time(observation)}: candidate {event.name_zh} / {event.name_en}, to be confirmed by review"
        )
        return [Violation(family=spec.family, event_code=event.code, name_zh=event.name_zh,
                          name_en=event.name_en, reason=reason, rule=self.name, rule_version=self.version)]
