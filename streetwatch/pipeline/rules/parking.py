"""Parking: a parked vehicle inside a no-parking zone, or at the same spot on two passes N minutes apart.

Only parked vehicles are judged: a vehicle the footage shows moving is traffic and never a parking
item. One waiting in a travel lane, or one whose motion cannot be told (the patrol car stood still
too, the vehicle fills the picture), is judged by position alone: the same vehicle at the same spot
on an earlier pass N minutes before is no longer waiting.

The overstay check is the digital chalk mark: the same kind of vehicle within
``parking_overstay_radius_m`` of where one was seen on an earlier pass at least
``parking_overstay_minutes`` (and at most ``parking_overstay_window_h``) before.
"""

from __future__ import annotations

from streetwatch.core.history import PastSighting
from streetwatch.core.types import LocationStatus, MotionState, Observation, Violation
from streetwatch.core.zones import Zone, ZoneIndex
from streetwatch.pipeline.rules.base import RuleContext
from streetwatch.pipeline.rules.reasons import (
    clock,
    describe_motion,
    geolocated,
    judged,
    label,
    metres,
    uncertainty_note,
    violation_class,
    when,
)
from streetwatch.pipeline.rules.taxonomy_rule import candidate

PARKING_RULE_VERSION = "1"
FAMILY = "parking"


class ParkingRule:
    """Judges vehicles (taxonomy family ``parking``) against no-parking zones and earlier passes."""

    name = "parking"
    version = PARKING_RULE_VERSION

    def evaluate(self, observation: Observation, context: RuleContext) -> list[Violation]:
        judged_class = violation_class(observation, context, FAMILY)
        if judged_class is None:
            return []
        spec, event = judged_class
        motion = observation.motion
        if motion is not None and motion.state is MotionState.MOVING:
            return []   # traffic, never a parking item
        # Parked by its motion; waiting in a lane, or motion cannot tell: then only an earlier pass
        # that saw it at the same spot (position across passes) can make it a parking item.
        parked = motion is None or motion.state is MotionState.PARKED
        if observation.location.status is LocationStatus.UNKNOWN:
            if not parked:
                return []
            return candidate(observation, context, rule=self.name, version=self.version,
                             note="location unknown: no-parking zones and overstay not checked")
        findings: list[str] = []
        extra: dict[str, str] = {}
        bases: list[str] = []
        if motion is not None:
            seconds = observation.pts_end_s - observation.pts_start_s
            findings.append(describe_motion(motion, spec.name, seconds))
            extra.update(motion=motion.state.value, motion_score=f"{motion.score:.2f}")
        point = geolocated(observation)
        if point is not None and context.zones is not None and parked:
            found = self._zone_finding(observation, spec.name, context.zones, point, extra)
            if found:
                findings.append(found)
                bases.append("no_parking_zone")
        if point is not None:
            found = self._overstay_finding(observation, spec.name, context, point, extra)
            if found:
                findings.append(found)
                bases.append("overstay")
        if bases:
            return [judged(observation, context, spec, event, rule=self.name, version=self.version,
                           reason="; ".join(findings), basis="+".join(bases), extra=extra)]
        if not parked:
            return []   # standing or waiting, motion cannot tell, and no earlier pass here
        if point is None:   # camera position only: near, but where exactly is not known
            return self._camera_only(observation, context)
        if context.zones is None:
            return candidate(observation, context, rule=self.name, version=self.version,
                             note="no zones configured: no-parking zones not checked")
        return []   # placed, outside every no-parking zone, no earlier sighting: parked legally

    def _zone_finding(self, observation: Observation, class_name: str, index: ZoneIndex,
                      point: tuple[float, float], extra: dict[str, str]) -> str | None:
        zones = index.zones_at(*point, kind="no_parking")
        if not zones:
            return None
        # the zone it is deepest inside makes the clearest reason
        zone = max(zones, key=lambda z: index.distance_inside_m(z, *point))
        depth = index.distance_inside_m(zone, *point)
        extra.update(zone_id=zone.id, zone_name=zone.name, inside_m=f"{depth:.1f}")
        return (f"{label(class_name)} parked {metres(depth)} inside no-parking zone "
                f"'{zone.name}' {when(observation, zone.timezone)}{uncertainty_note(observation, depth)}")

    def _overstay_finding(self, observation: Observation, class_name: str, context: RuleContext,
                          point: tuple[float, float], extra: dict[str, str]) -> str | None:
        params = context.params
        if context.history is None or params.parking_overstay_minutes is None or observation.time_utc is None:
            return None
        now = observation.time_utc
        earliest_allowed = now - params.parking_overstay_window_h * 3600.0
        earlier = [s for s in context.history.previous_sightings(
            FAMILY, point[0], point[1], params.parking_overstay_radius_m,
            before_utc=now - params.parking_overstay_minutes * 60.0)
            if s.t_utc >= earliest_allowed
            and context.taxonomy.same_vehicle_kind(self._canonical(s.class_name, context), class_name)]
        if not earlier:
            return None
        first: PastSighting = min(earlier, key=lambda s: s.t_utc)
        tz = params.zoneinfo
        minutes = int((now - first.t_utc) // 60)
        extra.update(first_seen_utc=f"{first.t_utc:.3f}", overstay_min=str(minutes))
        if first.video_id is not None:
            extra["first_seen_video_id"] = str(first.video_id)
        return (f"{label(class_name)} at the same spot {minutes} min after the first sighting "
                f"({clock(first.t_utc, tz)}, {clock(now, tz)})")

    @staticmethod
    def _canonical(class_name: str, context: RuleContext) -> str:
        spec = context.taxonomy.lookup(class_name)   # stored names may be another model's alias
        return spec.name if spec is not None else class_name

    def _camera_only(self, observation: Observation, context: RuleContext) -> list[Violation]:
        location = observation.location
        zones: list[Zone] = []
        if context.zones is not None and location.lat is not None and location.lon is not None:
            zones = context.zones.zones_at(location.lat, location.lon, kind="no_parking")
        note = ("vehicle's own position not measured, only the camera's: "
                + (f"the patrol car was inside no-parking zone '{zones[0].name}'" if zones
                   else "no-parking zones and overstay not checked"))
        return candidate(observation, context, rule=self.name, version=self.version, note=note)
