"""Stalls: a stall-family object of a violation class outside permitted vending zones or hours,
or a stall scene the model sees (umbrella, table, chairs, with people standing by).

One observation is one object (an umbrella, a table, a stall), not the "stationary cluster"
a person sees; so the rule judges the object by where and when it stands, and counts the
other stall-family objects around it (people, chairs, benches, tables: ``context.nearby``) as
its scene: placed within ``stall_support_radius_m`` of it on the ground when both are placed,
otherwise seen with it in the same frames (a person only when standing still beside it: their
offset from the object stays put while the camera moves). It cannot tell a pavement from a
shop's own forecourt: cities draw that as zones. See ``docs/rules.md``.

Decision, for a geolocated object with zones configured:
1. inside a permitted-vending zone that is open at the time -> allowed (the more specific grant
   wins over an overlapping no-vending zone);
2. inside a no-vending zone -> violation;
3. inside a permitted-vending zone that is closed -> violation (outside its hours);
4. anywhere else -> violation (not in any permitted vending zone).
Without zones (or without the object's own position), a strong scene (``STRONG_SCENE``: two or
more supporting objects, a person among them) is filed on basis ``stall_scene``, which enters the
review queue; a weaker one stays the baseline candidate (basis ``unverified``), held below it.
With ``stall_min_support`` > 0, an object with fewer supporting objects around is not filed.
The ``stall`` class stays for a city's own model that sees whole stalls.
"""

from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

from streetwatch.core.geo import haversine_m
from streetwatch.core.taxonomy import ClassSpec, EventSpec
from streetwatch.core.types import LocationStatus, MotionState, Observation, Violation
from streetwatch.core.zones import PermittedVendingZone, ZoneIndex
from streetwatch.pipeline.rules.base import RuleContext
from streetwatch.pipeline.rules.reasons import (
    UNVERIFIED,
    FamilyRule,
    class_of,
    geolocated,
    judged,
    label,
    metres,
    plural,
    uncertainty_note,
    when,
)
from streetwatch.pipeline.rules.taxonomy_rule import candidate

STALL_RULE_VERSION = "2"
STALL_SCENE = "stall_scene"
STRONG_SCENE = 2          # supporting objects, a person among them, that make a stall scene
PERSON = "person"
# A person whose offset from the object moves less than this many object-box heights across the
# frames they share is standing by it (a passer-by walks past it).
STANDING_MAX_DRIFT = 0.6
FAMILY = "stall"


class StallRule(FamilyRule):
    """Judges stall-family violation classes (umbrella, dining_table, stall) against vending zones."""

    name = "stall"
    version = STALL_RULE_VERSION
    family = FAMILY

    def judge(self, observation: Observation, context: RuleContext, spec: ClassSpec,
              event: EventSpec) -> list[Violation]:
        point = geolocated(observation)
        support, by_frames = supporting_objects(observation, context, point)
        if sum(support.values()) < context.params.stall_min_support:
            return []
        if observation.location.status is LocationStatus.UNKNOWN:
            return self._scene_or_candidate(observation, context, spec, event, support, by_frames,
                                            "location unknown: vending zones and hours not checked")
        if point is None:
            return self._scene_or_candidate(observation, context, spec, event, support, by_frames,
                                            "object's own position not measured, only the camera's: "
                                            "vending zones and hours not checked")
        if context.zones is None:
            return self._scene_or_candidate(observation, context, spec, event, support, by_frames,
                                            "no zones configured: vending zones and hours not checked")
        finding = self._finding(observation, spec.name, context.zones, point, context.params.zoneinfo)
        if finding is None:
            return []
        reason, basis, extra = finding
        extra.update({f"nearby_{name}": str(n) for name, n in sorted(support.items())})
        return [judged(observation, context, spec, event, rule=self.name, version=self.version,
                       reason=reason + describe_support(support, context, by_frames), basis=basis, extra=extra)]

    def _scene_or_candidate(self, observation: Observation, context: RuleContext, spec: ClassSpec,
                            event: EventSpec, support: Counter[str], by_frames: bool, note: str) -> list[Violation]:
        """A stall scene when the support is strong; the baseline candidate (held) otherwise."""
        if not strong_scene(support):
            return self._candidate(observation, context, note + describe_support(support, context, by_frames))
        seconds = observation.pts_end_s - observation.pts_start_s
        reason = (f"{label(spec.name)} seen for {seconds:.0f} s{describe_support(support, context, by_frames)}: "
                  f"a stall scene {when(observation, context.params.zoneinfo)}; {note}")
        extra = {f"nearby_{name}": str(n) for name, n in sorted(support.items())}
        return [judged(observation, context, spec, event, rule=self.name, version=self.version,
                       reason=reason, basis=STALL_SCENE, extra=extra)]

    def _finding(self, observation: Observation, class_name: str, zones: ZoneIndex,
                 point: tuple[float, float], tz: ZoneInfo) -> tuple[str, str, dict[str, str]] | None:
        """(reason, basis, extra) of a violation, or None when vending is permitted here and now."""
        what = label(class_name)
        permitted = zones.zones_at(*point, kind="permitted_vending")
        closed: list[tuple[str, str]] = []   # (name, hours) of permitted zones closed at the time
        for zone in permitted:
            props = zone.properties
            if not isinstance(props, PermittedVendingZone):
                continue
            if observation.time_utc is None:
                return (f"{what} inside permitted vending zone '{zone.name}' (hours "
                        f"{props.describe_hours()}) {when(observation, zone.timezone)}: cannot tell whether "
                        "it was open, to be confirmed by review", UNVERIFIED,
                        {"zone_id": zone.id, "zone_name": zone.name})
            if props.is_open(zone.local_time(observation.time_utc)):
                return None
            closed.append((zone.name, props.describe_hours()))
        forbidden = zones.zones_at(*point, kind="no_vending")
        if forbidden:
            zone = max(forbidden, key=lambda z: zones.distance_inside_m(z, *point))
            depth = zones.distance_inside_m(zone, *point)
            reason = (f"{what} {metres(depth)} inside no-vending zone '{zone.name}' "
                      f"{when(observation, zone.timezone)}{uncertainty_note(observation, depth)}")
            if closed:
                reason += f", outside the hours of permitted vending zone '{closed[0][0]}' ({closed[0][1]})"
            return reason, "no_vending_zone", {"zone_id": zone.id, "zone_name": zone.name}
        if closed:
            zone = permitted[0]
            return (f"{what} in permitted vending zone '{zone.name}' {when(observation, zone.timezone)}, "
                    f"outside its hours {closed[0][1]}", "outside_permitted_hours",
                    {"zone_id": zone.id, "zone_name": zone.name})
        return (f"{what} outside every permitted vending zone, at {point[0]:.6f}, {point[1]:.6f} "
                f"{when(observation, tz)}", "not_permitted_zone", {})

    def _candidate(self, observation: Observation, context: RuleContext, note: str) -> list[Violation]:
        return candidate(observation, context, rule=self.name, version=self.version, note=note)


def strong_scene(support: Counter[str]) -> bool:
    """Two or more supporting objects, a person standing by among them."""
    return sum(support.values()) >= STRONG_SCENE and support[PERSON] >= 1


def supporting_objects(observation: Observation, context: RuleContext,
                       point: tuple[float, float] | None) -> tuple[Counter[str], bool]:
    """Other stall-family objects of the same video around the object, by class, and whether any was
    counted by sharing frames with it (rather than by its place on the ground).

    Both placed: within ``stall_support_radius_m``. Otherwise: seen in the same frames, a person only
    when standing by it (and not judged moving, when a motion state is known).
    """
    radius = context.params.stall_support_radius_m
    found: Counter[str] = Counter()
    by_frames = False
    for other in context.nearby:
        if other is observation or other.track_id == observation.track_id:
            continue
        spec = class_of(other, context, FAMILY)
        if spec is None:
            continue
        if other.motion is not None and other.motion.state is MotionState.MOVING:
            continue
        other_point = geolocated(other)
        if point is not None and other_point is not None:
            if haversine_m(*point, *other_point) <= radius:
                found[spec.name] += 1
        elif seen_together(observation, other, standing=spec.name == PERSON):
            found[spec.name] += 1
            by_frames = True
    return found, by_frames


def seen_together(observation: Observation, other: Observation, *, standing: bool) -> bool:
    """Whether ``other`` is in the same frames as ``observation`` (in at least two, or all of a short
    track), and, with ``standing``, keeps its place beside it while the camera moves."""
    boxes = {p.frame_index: p.xyxy for p in observation.points}
    shared = [(boxes[p.frame_index], p.xyxy) for p in other.points if p.frame_index in boxes]
    if len(shared) < min(2, len(observation.points)):
        return False
    if not standing:
        return True
    offsets = []
    for (ox1, oy1, ox2, oy2), (px1, py1, px2, py2) in shared:
        height = max(oy2 - oy1, 1.0)
        offsets.append((((px1 + px2) - (ox1 + ox2)) / 2 / height, ((py1 + py2) - (oy1 + oy2)) / 2 / height))
    drift = max(max(o[0] for o in offsets) - min(o[0] for o in offsets),
                max(o[1] for o in offsets) - min(o[1] for o in offsets))
    return drift <= STANDING_MAX_DRIFT


def describe_support(support: Counter[str], context: RuleContext, by_frames: bool = False) -> str:
    if not support:
        return ""
    parts = [plural(name, n) for name, n in sorted(support.items())]
    where = ("around it in the same frames" if by_frames
             else f"within {context.params.stall_support_radius_m:.0f} m")
    return f", with {', '.join(parts)} {where}"
