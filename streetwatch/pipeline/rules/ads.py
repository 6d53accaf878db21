"""Ads: an advertising object with no licence of a compatible class within R metres.

The registry (``pipeline/permits.py``) lists licensed signboards, banners and boards with
positions; a licence matches when it is within ``ads_match_radius_m`` of the object, of a
compatible class (one of the taxonomy's ``licence_groups``: a shop sign and a projecting sign
are both signboards, which detectors confuse), and valid on the local date of the sighting
(dates ignored when the time is unknown).
Without a registry, or without the object's own position, the rule files the baseline
candidate and says why; but a banner or a small ad whose text was read (attributes ``text``:
found by the OCR's own text regions, ``pipeline/ad_scan.py``, or read on a detector's crop) is a
violation by itself in Chinese cities' rules: it is filed on basis ``text``, which enters the
review queue. Reasons quote the text and its phone numbers (searchable: ``GET /violations?phone=``).
"""

from __future__ import annotations

from datetime import datetime

from streetwatch.core.permits import PermitMatch
from streetwatch.core.taxonomy import ClassSpec, EventSpec
from streetwatch.core.types import LocationStatus, Observation, Violation
from streetwatch.pipeline.rules.base import RuleContext
from streetwatch.pipeline.rules.reasons import FamilyRule, describe_place, geolocated, judged, label, metres, when
from streetwatch.pipeline.rules.taxonomy_rule import candidate

ADS_RULE_VERSION = "2"
FAMILY = "ads"
TEXT = "text"                                     # basis: the ad's own text says what it is
SELF_EVIDENT = frozenset({"banner", "small_ad"})  # classes whose read text makes them violations


class AdsRule(FamilyRule):
    """Judges advertising objects against the licence registry."""

    name = "ads"
    version = ADS_RULE_VERSION
    family = FAMILY

    def judge(self, observation: Observation, context: RuleContext, spec: ClassSpec,
              event: EventSpec) -> list[Violation]:
        if context.permits is None:
            return self._unchecked(observation, context, spec, event,
                                   "no permit registry configured: licences not checked")
        if observation.location.status is LocationStatus.UNKNOWN:
            return self._unchecked(observation, context, spec, event, "location unknown: licences not checked")
        point = geolocated(observation)
        if point is None:
            return self._unchecked(observation, context, spec, event,
                                   "object's own position not measured, only the camera's: licences not checked")
        radius = context.params.ads_match_radius_m
        group, classes = context.taxonomy.licence_group(spec.name)  # models/taxonomy.yaml: licence_groups
        day = (datetime.fromtimestamp(observation.time_utc, context.params.zoneinfo).date()
               if observation.time_utc is not None else None)
        if context.permits.nearest(*point, radius, classes, on=day) is not None:
            return []
        noun = group or label(spec.name)
        reason = (f"{label(spec.name)} with no licensed {noun} within {radius:.0f} m, "
                  f"{describe_place(observation)} {when(observation, context.params.zoneinfo)}")
        extra: dict[str, str] = {}
        lapsed = context.permits.nearest(*point, radius, classes) if day is not None else None
        if lapsed is not None:
            reason += f"; {describe_lapsed(lapsed)}"
            extra["lapsed_licence_id"] = lapsed.permit.licence_id
        uncertainty = observation.location.uncertainty_m
        # a licence just beyond the radius may be this object's, if its position is that uncertain
        near_miss = (context.permits.nearest(*point, radius + uncertainty, classes, on=day)
                     if uncertainty else None)
        if near_miss is not None:
            reason += (f"; licence '{near_miss.permit.licence_id}' ('{near_miss.permit.name}') is "
                       f"{metres(near_miss.distance_m)} away, within the position's uncertainty "
                       f"(about {uncertainty:.0f} m)")
            extra["nearby_licence_id"] = near_miss.permit.licence_id
        return [judged(observation, context, spec, event, rule=self.name, version=self.version,
                       reason=reason + describe_text(observation) + describe_board(observation), basis="no_licence",
                       extra=extra)]

    def _unchecked(self, observation: Observation, context: RuleContext, spec: ClassSpec, event: EventSpec,
                   note: str) -> list[Violation]:
        """Licences not checked: a banner or small ad with its text read files on basis ``text``; the rest
        is the baseline candidate."""
        if spec.name not in SELF_EVIDENT or not observation.attributes.get("text"):
            return candidate(observation, context, rule=self.name, version=self.version,
                             note=note + describe_board(observation))
        how = observation.attributes.get("ad_text_reason")
        reason = (f"{label(spec.name)}{describe_text(observation)}"
                  f"{f' ({how})' if how else ''}, {describe_place(observation)} "
                  f"{when(observation, context.params.zoneinfo)}: {event.name_zh} by its own text; {note}")
        return [judged(observation, context, spec, event, rule=self.name, version=self.version, reason=reason,
                       basis=TEXT)]


def describe_text(observation: Observation) -> str:
    """`` reading '疏通下水道 13812345678' (phone 13812345678)``, or nothing when no text was read."""
    text = observation.attributes.get("text")
    if not text:
        return ""
    phones = [p for p in str(observation.attributes.get("phones") or "").split(",") if p]
    shown = str(text) if len(str(text)) <= 60 else str(text)[:57] + "..."
    return f" reading '{shown}'" + (f" (phone {', '.join(phones)})" if phones else "")


def describe_board(observation: Observation) -> str:
    """``; a standing board: the shop sign's box stands on the ground 6.2 m from the camera, ...``
    (``pipeline/ad_board.py``), or nothing for other objects."""
    evidence = observation.attributes.get("board_evidence")
    if not evidence:
        return ""
    return f"; a standing board: the {label(str(observation.attributes.get('detected_as', 'sign')))}'s box {evidence}"


def describe_lapsed(match: PermitMatch) -> str:
    permit = match.permit
    dates = f"{permit.valid_from or '...'} to {permit.valid_to or '...'}"
    return (f"licence '{permit.licence_id}' ('{permit.name}', {metres(match.distance_m)} away) "
            f"is valid {dates} only")
