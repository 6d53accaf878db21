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
are kept. Then a kept stretch shorter than that before them (a bad first fix, say) is dropped.
Implied speeds subtract ``position_noise_m`` from the distance first, so the metre-level jitter
of an 18 Hz GoPro track does not read as 100 m/s.
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
    dropped["speed"] = speed_drops
    return tuple(kept), dropped


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
        excess = max(0.0, haversine_m(a.lat, a.lon, b.lat, b.lon) - noise_m)
        elapsed = b.t - a.t
        return excess == 0.0 if elapsed <= 0 else excess / elapsed <= max_speed

    kept: list[GpsFix] = []
    pending: list[GpsFix] = []  # consecutive fixes that agree with each other, not with ``kept``
    segment_start = 0  # where the last confirmed stretch of ``kept`` begins
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
        if len(pending) >= confirm:  # the receiver stays at the new place: the jump is real
            if len(kept) - segment_start < confirm:  # what came before was too short to trust
                drops += len(kept) - segment_start
                del kept[segment_start:]
            segment_start = len(kept)
            kept.extend(pending)
            pending = []
    return kept, drops + len(pending)
