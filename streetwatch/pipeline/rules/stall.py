"""Stalls: a stall-family object of a violation class outside permitted vending zones or hours.

One observation is one object (an umbrella, a table, a stall), not the "stationary cluster"
a person sees; so the rule judges the object by where and when it stands, and counts the
other stall-family objects around it (people, chairs, benches, tables: ``context.nearby``)
as supporting evidence in the reason. It cannot tell a pavement from a shop's own forecourt:
cities draw that as zones. See ``docs/rules.md``.

Decision, for a geolocated object with zones configured:
1. inside a permitted-vending zone that is open at the time -> allowed (the more specific grant
   wins over an overlapping no-vending zone);
2. inside a no-vending zone -> violation;
3. inside a permitted-vending zone that is closed -> violation (outside its hours);
4. anywhere else -> violation (not in any permitted vending zone).
With ``stall_min_support`` > 0, an object with fewer supporting objects nearby is not filed.
"""

from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

from streetwatch.core.geo import haversine_m
from streetwatch.core.taxonomy import ClassSpec, EventSpec
from streetwatch.core.types import LocationStatus, Observation, Violation
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

STALL_RULE_VERSION = "1"
FAMILY = "stall"


class StallRule(FamilyRule):
    """Judges stall-family violation classes (umbrella, dining_table, stall) against vending zones."""

    name = "stall"
    version = STALL_RULE_VERSION
    family = FAMILY

    def judge(self, observation: Observation, context: RuleContext, spec: ClassSpec,
              event: EventSpec) -> list[Violation]:
        if observation.location.status is LocationStatus.UNKNOWN:
            return self._candidate(observation, context,
                                   "location unknown: vending zones and hours not checked")
        point = geolocated(observation)
        if point is None:
            return self._candidate(observation, context, "object's own position not measured, only the "
                                   "camera's: vending zones and hours not checked")
        support = supporting_objects(observation, context, point)
        if sum(support.values()) < context.params.stall_min_support:
            return []
        if context.zones is None:
            return self._candidate(observation, context, "no zones configured: vending zones and hours not "
                                   f"checked{describe_support(support, context)}")
        finding = self._finding(observation, spec.name, context.zones, point, context.params.zoneinfo)
        if finding is None:
            return []
        reason, basis, extra = finding
        extra.update({f"nearby_{name}": str(n) for name, n in sorted(support.items())})
        return [judged(observation, context, spec, event, rule=self.name, version=self.version,
                       reason=reason + describe_support(support, context), basis=basis, extra=extra)]

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


def supporting_objects(observation: Observation, context: RuleContext,
                       point: tuple[float, float]) -> Counter[str]:
    """Other stall-family objects of the same video within ``stall_support_radius_m``, by class."""
    radius = context.params.stall_support_radius_m
    found: Counter[str] = Counter()
    for other in context.nearby:
        if other is observation or other.track_id == observation.track_id:
            continue
        other_point = geolocated(other)
        spec = class_of(other, context, FAMILY)
        if spec is not None and other_point is not None and haversine_m(*point, *other_point) <= radius:
            found[spec.name] += 1
    return found


def describe_support(support: Counter[str], context: RuleContext) -> str:
    if not support:
        return ""
    parts = [plural(name, n) for name, n in sorted(support.items())]
    return f", with {', '.join(parts)} within {context.params.stall_support_radius_m:.0f} m"
