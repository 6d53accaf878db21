"""Quality gating: each reason, and the speed check dropping the outlier, not its neighbours."""

from __future__ import annotations

import math

import pytest

from streetwatch.core.geo import EARTH_MEAN_RADIUS_M
from streetwatch.core.types import GpsFix
from streetwatch.pipeline.gps.quality import DROP_REASONS, gate_fixes

LAT, LON = 22.5, 113.9
T0 = 1_682_913_600.0


def east(metres: float) -> float:
    """Longitude ``metres`` east of LON along the parallel at LAT."""
    return LON + math.degrees(metres / (EARTH_MEAN_RADIUS_M * math.cos(math.radians(LAT))))


def drive(*metres: float, step_s: float = 1.0) -> list[GpsFix]:
    """Fixes ``step_s`` apart at the given distances east of the start."""
    return [GpsFix(t=T0 + i * step_s, lat=LAT, lon=east(m)) for i, m in enumerate(metres)]


def dropped(**counts: int) -> dict[str, int]:
    return {reason: counts.get(reason, 0) for reason in DROP_REASONS}


# 10 m/s along a street; 1 km is far beyond 70 m/s in one second
STEADY = (0, 10, 20, 30, 40, 50, 60)


@pytest.mark.parametrize(
    ("metres", "kept", "expected"),
    [
        (STEADY, [0, 1, 2, 3, 4, 5, 6], dropped()),
        ((0, 10, 1000, 30, 40, 50), [0, 1, 3, 4, 5], dropped(speed=1)),  # a one-fix spike
        ((0, 10, 1000, 1010, 40, 50, 60), [0, 1, 4, 5, 6], dropped(speed=2)),  # a two-fix detour
        ((1000, 10, 20, 30, 40, 50), [1, 2, 3, 4, 5], dropped(speed=1)),  # bad first fix
        ((1000, 1010, 20, 30, 40, 50), [2, 3, 4, 5], dropped(speed=2)),  # two bad first fixes
        ((0, 10, 20, 30, 40, 50, 1000), [0, 1, 2, 3, 4, 5], dropped(speed=1)),  # bad last fix
        ((0, 10, 20, 30, 5000, 5010, 5020, 5030), [0, 1, 2, 3, 4, 5, 6, 7], dropped()),  # a real jump stays
        ((0, 10, 1000, 1010, 1020, 50, 60, 70), [0, 1, 5, 6, 7], dropped(speed=3)),  # a detour of 3 fixes
        ((0, 10, 20, 99.9, 109.9), [0, 1, 2, 3, 4], dropped()),  # 79.9 m - 10 m noise: kept
        ((0, 10, 20, 100.5, 110.5), [0, 1, 2, 4], dropped(speed=1)),  # 80.5 m - 10 m: too fast
    ],
    ids=[
        "steady",
        "spike",
        "detour",
        "bad-first",
        "two-bad-first",
        "bad-last",
        "confirmed-jump",
        "long-detour",
        "under-limit",
        "over-limit",
    ],
)
def test_speed_outliers(metres: tuple[float, ...], kept: list[int], expected: dict[str, int]) -> None:
    fixes = drive(*metres)
    result, counts = gate_fixes(fixes)
    assert result == tuple(fixes[i] for i in kept)
    assert counts == expected


def test_jitter_of_a_fast_track_is_not_speed() -> None:
    # 18 Hz GoPro-style samples at 10 m/s with +-3 m jitter: 108 m/s between some neighbours
    jitter = [3.0 if i % 2 else -3.0 for i in range(36)]
    fixes = drive(*(i * 10 / 18 + j for i, j in enumerate(jitter)), step_s=1 / 18)
    kept, counts = gate_fixes(fixes)
    assert len(kept) == 36 and counts == dropped()


@pytest.mark.parametrize(
    ("fix", "reason"),
    [
        (GpsFix(T0 + 3, 0.0, 0.0), "null_island"),
        (GpsFix(T0 + 3, 0.00005, -0.00005), "null_island"),
        (GpsFix(T0 + 3, LAT, east(30), hdop=5.1), "hdop"),
        (GpsFix(T0 + 3, LAT, east(30), hdop=float("nan")), "hdop"),
        (GpsFix(T0 + 3, LAT, east(30), satellites=3), "satellites"),
        (GpsFix(T0 + 3, LAT, east(30), hdop=9.0, satellites=2), "hdop"),  # the first failed check counts
        (GpsFix(T0 + 3, LAT, east(30), hdop=5.0, satellites=4), None),  # limits are inclusive
        (GpsFix(T0 + 3, LAT, east(30), hdop=None, satellites=None), None),  # unknown is not bad
    ],
)
def test_per_fix_checks(fix: GpsFix, reason: str | None) -> None:
    fixes = [*drive(0, 10, 20), fix]
    kept, counts = gate_fixes(fixes)
    assert (fix in kept) == (reason is None)
    assert counts == (dropped(**{reason: 1}) if reason else dropped())


def test_thresholds_are_parameters_and_input_order_does_not_matter() -> None:
    fixes = [
        GpsFix(T0 + i, LAT, east(i * 10), hdop=h, satellites=s)
        for i, (h, s) in enumerate([(1.0, 9), (3.0, 9), (1.0, 5), (1.0, 9)])
    ]
    kept, counts = gate_fixes(list(reversed(fixes)), max_hdop=2.0, min_satellites=6, max_speed_mps=5.0)
    assert kept == (fixes[0],) and counts == dropped(hdop=1, satellites=1, speed=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_hdop": 0.0}, "max_hdop must be a positive finite number"),
        ({"max_speed_mps": float("inf")}, "max_speed_mps must be a positive finite number"),
        ({"min_satellites": -1}, "min_satellites >= 0"),
        ({"confirm_fixes": 0}, "confirm_fixes >= 1"),
        ({"position_noise_m": -1.0}, "position_noise_m >= 0"),
    ],
)
def test_bad_thresholds(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gate_fixes(drive(*STEADY), **kwargs)  # type: ignore[arg-type]


def test_empty_input() -> None:
    assert gate_fixes([]) == ((), dropped())
