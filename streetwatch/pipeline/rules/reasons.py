"""Shared wording and bookkeeping for rules: places, local times, distances, the violation itself.

Reasons are for the person reviewing the case: they say what was measured, and say plainly
what was not (no position, no time, no zones configured) rather than guess.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from streetwatch.core.taxonomy import ClassSpec, EventSpec
from streetwatch.core.types import LocationStatus, Motion, MotionState, Observation, Violation
from streetwatch.pipeline.rules.base import RuleContext
from streetwatch.pipeline.rules.priority import priority

# extra["basis"] values: what a violation rests on
UNVERIFIED = "unverified"   # the baseline candidate: the rule could not check its conditions


def label(class_name: str) -> str:
    """``dining_table`` -> ``dining table``."""
    return class_name.replace("_", " ")


def plural(class_name: str, count: int) -> str:
    """``2 people``, ``1 chair``, ``3 benches``."""
    word = label(class_name)
    if count == 1:
        return f"1 {word}"
    if word == "person":
        return f"{count} people"
    return f"{count} {word}es" if word.endswith(("s", "sh", "ch", "x")) else f"{count} {word}s"


def clock(t_utc: float, tz: ZoneInfo) -> str:
    """Local wall-clock time, ``09:42``."""
    return datetime.fromtimestamp(t_utc, tz).strftime("%H:%M")


def when(observation: Observation, tz: ZoneInfo) -> str:
    """``at 09:42`` (local), or what is known when the video is not tied to GPS time."""
    if observation.time_utc is None:
        return f"at an unknown time ({observation.best.pts_s:.1f} s into the video)"
    return f"at {clock(observation.time_utc, tz)}"


def metres(distance_m: float) -> str:
    return "less than 1 m" if distance_m < 1.0 else f"{distance_m:.0f} m"


def uncertainty_note(observation: Observation, distance_m: float) -> str:
    """`` (position uncertain by about 6 m)`` when a distance a verdict rests on is within the uncertainty."""
    uncertainty = observation.location.uncertainty_m
    if uncertainty is None or abs(distance_m) > uncertainty:
        return ""
    return f" (position uncertain by about {uncertainty:.0f} m)"


def describe_place(observation: Observation) -> str:
    location = observation.location
    if location.status is LocationStatus.UNKNOWN:
        return "location unknown (no GPS fix at that time)"
    where = f"{location.lat:.6f}, {location.lon:.6f}"
    if location.status is LocationStatus.CAMERA:
        return f"near {where} (camera position; distance not measurable)"
    return f"at {where} ({location.range_m:.0f} m from the camera)"


def describe_time_utc(observation: Observation) -> str:
    if observation.time_utc is None:
        return f"{observation.best.pts_s:.1f} s into the video"
    return datetime.fromtimestamp(observation.time_utc, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def geolocated(observation: Observation) -> tuple[float, float] | None:
    """The object's own (lat, lon), or None when only the camera position or nothing is known."""
    location = observation.location
    if location.status is LocationStatus.GEOLOCATED and location.lat is not None and location.lon is not None:
        return location.lat, location.lon
    return None


def class_of(observation: Observation, context: RuleContext, family: str) -> ClassSpec | None:
    """The observation's taxonomy class when it belongs to ``family``."""
    spec = context.taxonomy.lookup(observation.class_name)
    return spec if spec is not None and spec.family == family else None


def violation_class(observation: Observation, context: RuleContext, family: str
                    ) -> tuple[ClassSpec, EventSpec] | None:
    """The observation's class and event when it is a ``role: violation`` class of ``family``."""
    spec = class_of(observation, context, family)
    event = context.taxonomy.event_for(spec) if spec is not None and spec.role == "violation" else None
    return None if spec is None or event is None else (spec, event)


class FamilyRule:
    """A rule over one family's ``role: violation`` classes: ``evaluate`` finds the class and its
    event (nothing for other classes); the subclass's ``judge`` decides."""

    name: str
    version: str
    family: str

    def evaluate(self, observation: Observation, context: RuleContext) -> list[Violation]:
        judged_class = violation_class(observation, context, self.family)
        return [] if judged_class is None else self.judge(observation, context, *judged_class)

    def judge(self, observation: Observation, context: RuleContext, spec: ClassSpec,
              event: EventSpec) -> list[Violation]:
        """The violations an observation of ``spec`` (filed under ``event``) shows under this rule."""
        raise NotImplementedError


def routing_extra(observation: Observation, context: RuleContext) -> dict[str, str]:
    """Grid cell and responsible unit (网格 / 责任单位) at the observation's position, if zones have them."""
    location = observation.location
    if context.zones is None or location.lat is None or location.lon is None:
        return {}
    cell = context.zones.grid_at(location.lat, location.lon)
    if cell is None or cell.properties.kind != "grid":
        return {}
    extra = {"grid_id": cell.properties.grid_id, "grid_name": cell.name, "unit": cell.properties.unit}
    if cell.properties.unit_id:
        extra["unit_id"] = cell.properties.unit_id
    return extra


def judged(observation: Observation, context: RuleContext, spec: ClassSpec, event: EventSpec, *,
           rule: str, version: str, reason: str, basis: str,
           extra: dict[str, str] | None = None) -> Violation:
    """A violation of ``event`` with the rule's name, version, reason, basis and priority; routing added.
    A plate the OCR read is named in the reason (for the reviewer; masked wherever the reason leaves)."""
    value, explained = priority(observation, basis)
    plate = observation.attributes.get("plate")
    if plate:
        reason += f"; plate {plate}"
    return Violation(family=spec.family, event_code=event.code, name_zh=event.name_zh, name_en=event.name_en,
                     reason=reason, rule=rule, rule_version=version, priority=value, priority_reason=explained,
                     extra={"basis": basis, **routing_extra(observation, context), **(extra or {})})


def describe_motion(motion: Motion, class_name: str, seconds: float) -> str:
    """``car parked at the kerb for 42 s (stationary against the background in 37 of 40 sightings,
    3.1 m right of the patrol car's path)``, as a person would say it."""
    if motion.total_sightings <= 1:   # a photo: one sighting says nothing about motion or time
        return f"{label(class_name)} seen once ({motion.reason})"
    side = ""
    if motion.lateral_offset_m is not None:
        offset = motion.lateral_offset_m
        side = f", {abs(offset):.1f} m {'right' if offset >= 0 else 'left'} of the patrol car's path"
    still = motion.ground_summary or (f"stationary against the background in {motion.stationary_sightings} of "
                                      f"{motion.total_sightings} sightings")
    state = {MotionState.PARKED: "parked", MotionState.MOVING: "moving",
             MotionState.STOPPED_IN_TRAFFIC: "stopped in traffic",
             MotionState.UNKNOWN: "standing or waiting (motion cannot tell)"}[motion.state]
    return f"{label(class_name)} {state} for {seconds:.0f} s ({still}{side})"
