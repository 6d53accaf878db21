"""The patrol passes of one video: its GPS track, over the video's time, split into road segments and cells.

The track is sampled every ``SAMPLE_EVERY_S`` seconds of the video (with ``GpsTrack.pose_at``, so a
GPS gap or a jump leaves no position and starts a new piece: nothing is drawn through an outage),
and each gap-free piece is matched to the road network (when the city configured one), to the
H3 grid (always) and to the city's grid cells (网格, when its zones files have some). The passes are
committed with the video's results, in the same transaction.
"""

from __future__ import annotations

import math

from streetwatch.core.coverage import PatrolPass, cell_passes, grid_passes, road_passes
from streetwatch.core.roads import RoadNetwork, TrackSample
from streetwatch.core.zones import ZoneIndex
from streetwatch.pipeline.gps.track import GpsTrack

SAMPLE_EVERY_S = 1.0


def track_pieces(track: GpsTrack, start_utc: float, duration_s: float,
                 every_s: float = SAMPLE_EVERY_S) -> list[list[TrackSample]]:
    """The car's positions over the video, every ``every_s`` seconds, split where the track has none."""
    pieces: list[list[TrackSample]] = []
    current: list[TrackSample] = []
    piece_id: int | None = None
    n = max(0, math.floor(duration_s / every_s + 1e-9)) + 1
    times = [start_utc + k * every_s for k in range(n)]
    if times[-1] < start_utc + duration_s:
        times.append(start_utc + duration_s)
    for t in times:
        pose = track.pose_at(t)
        piece = track.piece_of(t) if pose is not None else None
        if pose is None or piece != piece_id:
            if current:
                pieces.append(current)
            current = []
        piece_id = piece
        if pose is not None:
            current.append(TrackSample(t, pose.lat, pose.lon))
    if current:
        pieces.append(current)
    return pieces


def video_passes(track: GpsTrack | None, start_utc: float | None, duration_s: float,
                 network: RoadNetwork | None, h3_resolution: int, zones: ZoneIndex | None = None) -> list[PatrolPass]:
    """The road, H3 cell and city grid cell passes of a video (none without GPS or a known start time)."""
    if track is None or start_utc is None:
        return []
    passes: list[PatrolPass] = []
    for piece in track_pieces(track, start_utc, duration_s):
        if network is not None:
            passes.extend(road_passes(network, piece))
        passes.extend(cell_passes(piece, h3_resolution))
        if zones is not None:
            passes.extend(grid_passes(piece, zones))
    return passes
