"""Overflowing bins (垃圾满溢) judged from what the model sees: garbage on, against or around a bin.

A detector that knows ``bin``, ``garbage_pile`` and ``trash_bag`` sees the parts of an overflowing
bin, not the verdict. A bin with garbage touching or beside it in the image (in the same frames),
or placed on the ground within ``BIN_GARBAGE_RADIUS_M`` of it, is judged overflowing: the run sets
the bin observation's ``fill_level`` (``overflowing``) and ``fill_evidence`` (what was seen, in
words), which the garbage rule files as the full-bin event. The garbage beside the bin is marked
``at_bin`` (the bin's track id): it is part of the bin's case, not a separate exposed-garbage case.
A bin alone gets no fill level and files nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from streetwatch.core.geo import haversine_m
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.types import LocationStatus, Observation, TrackPoint
from streetwatch.pipeline.rules.reasons import plural

BIN_CLASS: Final = "bin"
GARBAGE_CLASSES: Final = frozenset({"garbage_pile", "trash_bag"})
BIN_GARBAGE_RADIUS_M: Final = 2.0   # on the ground: garbage this close to a bin is the bin's
# In the image: a garbage box within this share of the bin box's width beside it (or overlapping)
# and reaching below the bin's top counts as against or around it.
ADJACENT_SHARE: Final = 0.5


@dataclass(frozen=True, slots=True)
class BinFinding:
    """Garbage items seen at one bin: by class, with how they were seen."""

    by_class: Counter[str]
    frames_together: int      # frames in which at least one item touched or stood beside the bin
    nearest_m: float | None   # the closest item on the ground, when both are placed

    def describe(self) -> str:
        items = ", ".join(plural(name, n) for name, n in sorted(self.by_class.items()))
        seen: list[str] = []
        if self.frames_together:
            seen.append(f"against or beside it in {self.frames_together} "
                        f"frame{'s' if self.frames_together != 1 else ''}")
        if self.nearest_m is not None:
            seen.append(f"{self.nearest_m:.1f} m from it on the ground")
        return f"{items} {' and '.join(seen)}"


def adjacent(bin_box: tuple[float, float, float, float], item_box: tuple[float, float, float, float],
             share: float = ADJACENT_SHARE) -> bool:
    """Whether an item's box overlaps the bin's or stands beside it (within ``share`` of its width),
    reaching below the bin's top (garbage heaped on the lid or piled at its foot, not a bag far above)."""
    bx1, by1, bx2, by2 = bin_box
    ix1, iy1, ix2, iy2 = item_box
    pad = share * max(bx2 - bx1, 1.0)
    gap_x = max(ix1 - bx2, bx1 - ix2, 0.0)
    beside = gap_x <= pad
    overlaps_vertically = iy2 >= by1 - 0.25 * (by2 - by1) and iy1 <= by2 + 0.25 * (by2 - by1)
    return beside and overlaps_vertically


def _frames_together(bin_points: Sequence[TrackPoint], item_points: Sequence[TrackPoint]) -> int:
    boxes = {p.frame_index: p.xyxy for p in bin_points}
    return sum(1 for p in item_points if p.frame_index in boxes and adjacent(boxes[p.frame_index], p.xyxy))


def _ground_distance(a: Observation, b: Observation) -> float | None:
    la, lb = a.location, b.location
    if (la.status is not LocationStatus.GEOLOCATED or lb.status is not LocationStatus.GEOLOCATED
            or la.lat is None or la.lon is None or lb.lat is None or lb.lon is None):
        return None
    return haversine_m(la.lat, la.lon, lb.lat, lb.lon)


def find_garbage_at_bin(bin_observation: Observation, others: Sequence[Observation], taxonomy: Taxonomy,
                        radius_m: float = BIN_GARBAGE_RADIUS_M) -> tuple[BinFinding | None, list[Observation]]:
    """The garbage seen at a bin (None if none) and the garbage observations that make it."""
    items: list[Observation] = []
    together = 0
    nearest: float | None = None
    for other in others:
        spec = taxonomy.lookup(other.class_name)
        if other is bin_observation or spec is None or spec.name not in GARBAGE_CLASSES:
            continue
        frames = _frames_together(bin_observation.points, other.points)
        distance = _ground_distance(bin_observation, other)
        near = distance is not None and distance <= radius_m
        if frames or near:
            items.append(other)
            together = max(together, frames)
            if near and distance is not None:
                nearest = distance if nearest is None else min(nearest, distance)
    if not items:
        return None, []
    names = Counter(spec.name for o in items if (spec := taxonomy.lookup(o.class_name)) is not None)
    return BinFinding(names, together, nearest), items


def judge_bins(observations: Sequence[Observation], taxonomy: Taxonomy,
               radius_m: float = BIN_GARBAGE_RADIUS_M) -> list[Observation]:
    """The observations, with bins that have garbage at them judged overflowing (see the module doc)."""
    out = list(observations)
    index = {id(o): i for i, o in enumerate(out)}
    for observation in observations:
        spec = taxonomy.lookup(observation.class_name)
        if spec is None or spec.name != BIN_CLASS:
            continue
        finding, items = find_garbage_at_bin(observation, observations, taxonomy, radius_m)
        if finding is None:
            continue
        i = index[id(observation)]
        out[i] = replace(out[i], attributes={**out[i].attributes, "fill_level": "overflowing",
                                            "fill_evidence": finding.describe()})
        for item in items:
            j = index[id(item)]
            out[j] = replace(out[j], attributes={**out[j].attributes, "at_bin": str(observation.track_id)})
    return out
