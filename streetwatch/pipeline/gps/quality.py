"""Quality gating: drop GPS fixes that would put observations in the wrong place.

Four checks, in this order (a fix is counted once, under the first check it fails):

==============  ==============================================================================
reason          dropped when
==============  ==============================================================================
``null_island`` the fix is at (0, 0) within 1e-4 degrees: what receivers write before a lock
``hdop``        its HDOP is above ``max_hdop``
``satellites``  it was computed from fewer than ``min_satellites`` satellites
``speed``       reaching it from the previous kept fix needs more than ``max_speed_mps``
==============  ==============================================================================

A fix that does not report HDOP or a satellite count is not dropped for it: unknown is not bad.

The speed check drops the outlier, not its neighbours: a fix far from the last kept one waits;
if the fixes after it come back near the kept track, it was a spike and is dropped; if
``confirm_fixes`` consecutive fixes agree with it instead, the receiver really is there and they
are kept, as a new stretch. Implied speeds subtract ``position_noise_m`` from the distance first,
so the metre-level jitter of an 18 Hz GoPro track does not read as 100 m/s.

Then the stretches are judged together. A stretch of any length that is reached by an
impossible jump and left by another, while the stretches either side of it fit each other, is a
detour: the receiver's error (multipath in a street canyon, a bad relock), not the car's drive;
two of three stretches agree, and it is dropped. After that, a first stretch shorter than
``confirm_fixes`` before a jump (a bad first fix or two) is dropped. What remains may still hold an
impossible jump (the receiver moved once and stayed): the track never interpolates across it
(``GpsTrack`` with ``max_speed_mps``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from streetwatch.core.geo import haversine_m
from streetwatch.core.types import GpsFix

DROP_REASONS = ("null_island", "hdop", "satellites", "speed")
NULL_ISLAND_DEG = 1e-4


def gate_fixes(
    fixes: Sequence[GpsFix],
    max_hdop: float = 5.0,
    min_satellites: int = 4,
    max_speed_mps: float = 70.0,
    *,
    confirm_fixes: int = 3,
    position_noise_m: float = 10.0,
) -> tuple[tuple[GpsFix, ...], dict[str, int]]:
    """Drop implausible fixes and count why.

    Args:
        fixes: The fixes, in any order (they are taken in time order).
        max_hdop: Highest acceptable horizontal dilution of precision.
        min_satellites: Fewest satellites for a trustworthy fix.
        max_speed_mps: Fastest plausible vehicle speed (70 m/s = 252 km/h).
        confirm_fixes: Consecutive fixes that make a jump real rather than a spike.
        position_noise_m: Distance treated as receiver noise when computing implied speeds.

    Returns:
        The kept fixes in time order, and the number dropped per reason (every reason in
        ``DROP_REASONS`` is present, zero when none was dropped for it).

    Raises:
        ValueError: If a threshold is not a positive finite number (``min_satellites`` may be 0).
    """
    for name, value in (("max_hdop", max_hdop), ("max_speed_mps", max_speed_mps)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value}")
    noise_ok = math.isfinite(position_noise_m) and position_noise_m >= 0
    if min_satellites < 0 or confirm_fixes < 1 or not noise_ok:
        raise ValueError(
            f"min_satellites >= 0, confirm_fixes >= 1 and position_noise_m >= 0 expected, got "
            f"{min_satellites}, {confirm_fixes}, {position_noise_m}"
        )
    dropped = dict.fromkeys(DROP_REASONS, 0)
    candidates: list[GpsFix] = []
    for fix in sorted(fixes, key=lambda f: f.t):
        reason = _static_problem(fix, max_hdop, min_satellites)
        if reason is None:
            candidates.append(fix)
        else:
            dropped[reason] += 1
    kept, speed_drops = _drop_speed_outliers(candidates, max_speed_mps, confirm_fixes, position_noise_m)
    kept, stretch_drops = _judge_stretches(kept, max_speed_mps, confirm_fixes, position_noise_m)
    dropped["speed"] = speed_drops + stretch_drops
    return tuple(kept), dropped


def plausible_step(a: GpsFix, b: GpsFix, max_speed_mps: float, noise_m: float) -> bool:
    """Whether a vehicle could go from fix ``a`` to fix ``b`` (in time order) at most ``max_speed_mps``.

    ``noise_m`` of the distance is receiver noise, not travel.
    """
    excess = max(0.0, haversine_m(a.lat, a.lon, b.lat, b.lon) - noise_m)
    elapsed = b.t - a.t
    return excess == 0.0 if elapsed <= 0 else excess / elapsed <= max_speed_mps


def _judge_stretches(
    fixes: list[GpsFix], max_speed: float, confirm: int, noise_m: float
) -> tuple[list[GpsFix], int]:
    """Drop detours (shortest first), then a too short first stretch (see the module docstring)."""
    pieces: list[list[GpsFix]] = []
    for fix in fixes:
        if pieces and plausible_step(pieces[-1][-1], fix, max_speed, noise_m):
            pieces[-1].append(fix)
        else:
            pieces.append([fix])
    drops = 0
    while len(pieces) >= 3:
        detours = [k for k in range(1, len(pieces) - 1)
                   if plausible_step(pieces[k - 1][-1], pieces[k + 1][0], max_speed, noise_m)]
        if not detours:
            break
        k = min(detours, key=lambda i: len(pieces[i]))
        drops += len(pieces[k])
        pieces[k - 1 : k + 2] = [pieces[k - 1] + pieces[k + 1]]
    if len(pieces) >= 2 and len(pieces[0]) < confirm:
        drops += len(pieces.pop(0))
    return [fix for piece in pieces for fix in piece], drops


def _static_problem(fix: GpsFix, max_hdop: float, min_satellites: int) -> str | None:
    if abs(fix.lat) < NULL_ISLAND_DEG and abs(fix.lon) < NULL_ISLAND_DEG:
        return "null_island"
    if fix.hdop is not None and not fix.hdop <= max_hdop:  # NaN HDOP is bad too
        return "hdop"
    if fix.satellites is not None and fix.satellites < min_satellites:
        return "satellites"
    return None


def _drop_speed_outliers(
    fixes: list[GpsFix], max_speed: float, confirm: int, noise_m: float
) -> tuple[list[GpsFix], int]:
    def plausible(a: GpsFix, b: GpsFix) -> bool:
        return plausible_step(a, b, max_speed, noise_m)

    kept: list[GpsFix] = []
    pending: list[GpsFix] = []  # consecutive fixes that agree with each other, not with ``kept``
    drops = 0
    for fix in fixes:
        if not kept or plausible(kept[-1], fix):
            drops += len(pending)  # the detour came back: it was a spike
            pending = []
            kept.append(fix)
            continue
        if pending and plausible(pending[-1], fix):
            pending.append(fix)
        else:
            drops += len(pending)
            pending = [fix]
        if len(pending) >= confirm:  # the receiver stays at the new place: a new stretch (judged later)
            kept.extend(pending)
            pending = []
    return kept, drops + len(pending)
