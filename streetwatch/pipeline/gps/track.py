"""A GPS track: time-ordered fixes that give the camera's pose at any instant.

``GpsTrack.pose_at(t)`` runs for every sampled frame, so the track precomputes what it can
(segment lengths, bearings, which segments are gaps) and answers each call with one binary
search and a handful of float operations.

Inside a gap (two consecutive fixes more than ``max_gap_s`` apart) there is no position:
``pose_at`` returns None rather than drawing a straight line through a tunnel or an outage.
Across a jump no vehicle could make (with ``max_speed_mps``: 1 km in 1 s, a receiver that
relocked elsewhere) there is no position either: a line between the two sides would put the
camera hundreds of metres off the road. The two sides are *pieces* of the track that never
mix: :meth:`GpsTrack.poses_at` places one object's sightings from one piece only.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from streetwatch.core.geo import interpolate_angle_deg, path_segments
from streetwatch.core.types import GpsFix, Pose

# Below this distance between two fixes, their bearing is GPS noise, not the direction of travel.
MIN_MOTION_M = 1.0
# Distance between two fixes that is receiver noise, not travel, when judging a jump (as the quality gate).
JUMP_NOISE_M = 10.0


class GpsTrack:
    """Time-ordered GPS fixes with interpolation of the pose between them.

    Args:
        fixes: The fixes, in any order. They are sorted by time; of fixes with exactly the
            same time, the first one given is kept.
        max_gap_s: Two consecutive fixes further apart in time than this bound a gap, in which
            ``pose_at`` gives no position.
        source: Where the fixes came from (a file path), for messages.
        max_speed_mps: Two consecutive fixes that a vehicle could only connect faster than this
            (beyond ``JUMP_NOISE_M`` of receiver noise) bound a jump: no position between them, and
            the track's pieces either side never mix (:meth:`poses_at`). None: no jump check.

    Raises:
        ValueError: If there are no fixes, a fix time is not finite, or ``max_gap_s`` or
            ``max_speed_mps`` is not a positive finite number.
    """

    __slots__ = (
        "_alt",
        "_fixes",
        "_heading",
        "_is_gap",
        "_jump_times",
        "_lat",
        "_lon",
        "_seg_bearing",
        "_seg_length",
        "_speed",
        "_t",
        "_t_array",
        "max_gap_s",
        "max_speed_mps",
        "source",
    )

    def __init__(self, fixes: Sequence[GpsFix], max_gap_s: float = 5.0, source: str = "",
                 max_speed_mps: float | None = None) -> None:
        if not (math.isfinite(max_gap_s) and max_gap_s > 0):
            raise ValueError(f"max_gap_s must be a positive finite number of seconds, got {max_gap_s}")
        if max_speed_mps is not None and not (math.isfinite(max_speed_mps) and max_speed_mps > 0):
            raise ValueError(f"max_speed_mps must be a positive finite number or None, got {max_speed_mps}")
        if len(fixes) == 0:
            raise ValueError(f"a GPS track needs at least one fix, got none{_from(source)}")
        for fix in fixes:
            if not math.isfinite(fix.t):
                raise ValueError(f"fix time must be finite, got {fix.t} in {fix}{_from(source)}")
        kept: list[GpsFix] = []
        for fix in sorted(fixes, key=lambda f: f.t):  # stable: the first of equal times stays first
            if not kept or fix.t != kept[-1].t:
                kept.append(fix)
        self._fixes = tuple(kept)
        self.max_gap_s = float(max_gap_s)
        self.source = source
        # per-call reads index plain lists: much faster than indexing numpy arrays element-wise
        self._t = [f.t for f in kept]
        self._lat = [f.lat for f in kept]
        self._lon = [f.lon for f in kept]
        self._alt = [f.alt for f in kept]
        self._heading = [f.heading for f in kept]
        self._speed = [f.speed for f in kept]
        self._t_array = np.asarray(self._t, dtype=np.float64)
        lengths, bearings = path_segments(self._lat, self._lon)
        self._seg_length: list[float] = lengths.tolist()
        self._seg_bearing: list[float] = bearings.tolist()
        durations = np.diff(self._t_array)
        is_gap = durations > self.max_gap_s
        self.max_speed_mps = max_speed_mps
        jumps = np.zeros_like(is_gap)
        if max_speed_mps is not None and len(durations):
            jumps = np.maximum(lengths - JUMP_NOISE_M, 0.0) > max_speed_mps * durations
        self._is_gap: list[bool] = (is_gap | jumps).tolist()
        # A jump splits the track into pieces; the time of each jump's later fix starts the next piece.
        self._jump_times: list[float] = [self._t[i + 1] for i in np.flatnonzero(jumps)]

    @property
    def fixes(self) -> tuple[GpsFix, ...]:
        """The fixes, sorted by time, without duplicate times."""
        return self._fixes

    @property
    def start(self) -> float:
        """Time of the first fix, UTC epoch seconds."""
        return self._t[0]

    @property
    def end(self) -> float:
        """Time of the last fix, UTC epoch seconds."""
        return self._t[-1]

    def __len__(self) -> int:
        return len(self._fixes)

    def __repr__(self) -> str:
        return (
            f"GpsTrack({len(self)} fixes, {self.start:.3f}..{self.end:.3f}, "
            f"max_gap_s={self.max_gap_s}, source={self.source!r})"
        )

    def pose_at(self, t: float) -> Pose | None:
        """The camera's pose at time ``t``, interpolated between the fixes around it.

        Position, altitude and receiver speed are interpolated linearly in time. The heading
        is the bearing from the earlier fix to the later one when they are more than
        ``MIN_MOTION_M`` apart (the direction of motion); otherwise the receiver's heading,
        interpolated the short way round; otherwise None. The speed is the receiver's when
        both fixes report one, else distance over time.

        Args:
            t: UTC epoch seconds.

        Returns:
            The pose, or None when ``t`` is outside [start, end] or inside a gap.
        """
        times = self._t
        if not times[0] <= t <= times[-1]:  # also rejects NaN
            return None
        upper = int(np.searchsorted(self._t_array, t, side="right"))  # times[upper - 1] <= t
        earlier = upper - 1
        if times[earlier] == t:
            return self._pose_at_fix(earlier)
        if self._is_gap[earlier]:
            return None
        weight = (t - times[earlier]) / (times[upper] - times[earlier])
        return self._interpolate(earlier, weight, t)

    @property
    def jump_times(self) -> tuple[float, ...]:
        """Times of the first fix after each impossible jump (empty without ``max_speed_mps``)."""
        return tuple(self._jump_times)

    def piece_of(self, t: float) -> int:
        """Which piece of the track (0, 1, ...: split at impossible jumps) time ``t`` falls in."""
        return bisect.bisect_right(self._jump_times, t)

    def poses_at(self, times: Sequence[float]) -> list[Pose | None]:
        """The poses at several instants of one object, all from one piece of the track.

        When the instants straddle an impossible jump, the two sides cannot both be right and
        must not be combined into one position: only the piece with the most poses is kept
        (on a tie, the earlier), and the other instants get None, as if GPS had none there.
        """
        poses = [self.pose_at(t) for t in times]
        if not self._jump_times:
            return poses
        pieces = Counter(self.piece_of(t) for t, pose in zip(times, poses, strict=True) if pose is not None)
        if len(pieces) <= 1:
            return poses
        keep = max(pieces, key=lambda piece: (pieces[piece], -piece))
        return [pose if pose is not None and self.piece_of(t) == keep else None
                for t, pose in zip(times, poses, strict=True)]

    def shifted(self, offset_s: float) -> GpsTrack:
        """The same track with every fix time moved by ``offset_s`` seconds.

        Used to correct a clock offset between the GPS and the video.
        """
        if not math.isfinite(offset_s):
            raise ValueError(f"offset_s must be finite, got {offset_s}")
        moved = [dataclasses.replace(fix, t=fix.t + offset_s) for fix in self._fixes]
        return GpsTrack(moved, max_gap_s=self.max_gap_s, source=self.source, max_speed_mps=self.max_speed_mps)

    def _pose_at_fix(self, index: int) -> Pose:
        """Pose exactly at a fix: its position, with heading and speed from a segment beside it."""
        fix = self._fixes[index]
        beside: Pose | None = None
        if index <= len(self._t) - 2 and not self._is_gap[index]:
            beside = self._interpolate(index, 0.0, fix.t)
        elif index >= 1 and not self._is_gap[index - 1]:
            beside = self._interpolate(index - 1, 1.0, fix.t)
        if beside is None:
            # a lone fix between gaps (or the only one): what the receiver said is all there is
            return Pose(t=fix.t, lat=fix.lat, lon=fix.lon, heading=fix.heading, speed=fix.speed, alt=fix.alt)
        # the fix's own numbers, not a weight-1 interpolation that may round them
        return Pose(
            t=fix.t,
            lat=fix.lat,
            lon=fix.lon,
            heading=beside.heading,
            speed=beside.speed if fix.speed is None else fix.speed,
            alt=beside.alt if fix.alt is None else fix.alt,
        )

    def _interpolate(self, segment: int, weight: float, t: float) -> Pose:
        a, b = segment, segment + 1
        lat = self._lat[a] + weight * (self._lat[b] - self._lat[a])
        lon_step = (self._lon[b] - self._lon[a] + 180.0) % 360.0 - 180.0  # across the antimeridian too
        lon = self._lon[a] + weight * lon_step
        if lon > 180.0:
            lon -= 360.0
        elif lon < -180.0:
            lon += 360.0
        length = self._seg_length[segment]
        heading: float | None
        if length > MIN_MOTION_M:
            heading = self._seg_bearing[segment]
        else:
            heading = _blend_optional(self._heading[a], self._heading[b], weight, angular=True)
        speed_a, speed_b = self._speed[a], self._speed[b]
        if speed_a is not None and speed_b is not None:
            speed: float | None = speed_a + weight * (speed_b - speed_a)
        else:
            speed = length / (self._t[b] - self._t[a])
        alt = _blend_optional(self._alt[a], self._alt[b], weight, angular=False)
        return Pose(t=t, lat=lat, lon=lon, heading=heading, speed=speed, alt=alt)


def _blend_optional(a: float | None, b: float | None, weight: float, *, angular: bool) -> float | None:
    """Interpolate two optional values; with only one known, that one; with none, None."""
    if a is None:
        return b
    if b is None:
        return a
    if angular:
        return interpolate_angle_deg(a, b, weight)
    return a + weight * (b - a)


def _from(source: str) -> str:
    return f" (from {source})" if source else ""
