"""How much a candidate is worth a reviewer's look: a priority in 0..1, with its parts in words.

A reviewer's time is the scarcest resource of the whole workflow. Every verdict a rule files gets
a priority from what it rests on (its *basis*: a no-parking zone, an overstay, a missing licence
beats "nothing configured to check against") and how sure the footage is of it (detector
confidence, the motion evidence for vehicles, how many sightings). The queue serves the highest
first; below a family's threshold (``RuleParams.queue_thresholds``) a candidate stays an
observation, searchable but out of the queue.
"""

from __future__ import annotations

from typing import Final

from streetwatch.core.types import MotionState, Observation

# What a verdict rests on, as a weight. Bases not listed weigh 1.0 (a rule checked a city's rule).
BASIS_WEIGHTS: Final[dict[str, float]] = {
    "unverified": 0.35,     # a class that may be a problem, nothing configured to check it against
    "class": 0.9,           # the class is a problem wherever it is (exposed garbage, a trash bag)
    "stall_scene": 0.9,     # umbrella/table/chairs with a person standing by: a stall, zones unchecked
    "text": 0.9,            # a banner or a small ad read on the street: a violation by itself
}
FULL_SIGHTINGS: Final = 8   # this many sightings count as fully seen


def basis_weight(basis: str) -> float:
    """The weight of a verdict's basis; combined bases (``zone+overstay``) take the strongest part."""
    return max(BASIS_WEIGHTS.get(part, 1.0) for part in basis.split("+"))


def motion_evidence(observation: Observation) -> float | None:
    """How strongly the footage says a vehicle stands still (None for objects without a motion state)."""
    motion = observation.motion
    if motion is None:
        return None
    if motion.state is MotionState.PARKED:
        return max(0.5, motion.score)
    if motion.state is MotionState.UNKNOWN:
        return 0.25          # only position (an overstay) can speak for it
    return 0.0               # moving, or waiting in traffic


def priority(observation: Observation, basis: str) -> tuple[float, str]:
    """The priority of a verdict on ``observation`` resting on ``basis``, and its parts in words."""
    confidence = observation.confidence
    seen = min(1.0, len(observation.points) / FULL_SIGHTINGS)
    motion = motion_evidence(observation)
    if motion is None:
        evidence = 0.65 * confidence + 0.35 * seen
        parts = f"confidence {confidence:.2f}, {len(observation.points)} sightings"
    else:
        evidence = 0.45 * confidence + 0.35 * motion + 0.2 * seen
        parts = f"confidence {confidence:.2f}, motion {motion:.2f}, {len(observation.points)} sightings"
    weight = basis_weight(basis)
    value = round(min(1.0, max(0.0, weight * evidence)), 3)
    return value, f"priority {value:.2f}: basis {basis} x{weight:.2f}, evidence {evidence:.2f} ({parts})"
