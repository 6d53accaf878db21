"""The notice's small locator map: a schematic drawn with matplotlib, no map tiles.

Nothing is fetched at run time, so there is no street map behind the point: the map shows the case's
position, the zones of the city's zones files within :data:`~streetwatch.casework.notice_content.MAP_HALF_SIZE_M`
(grid cells, no-parking and no-vending zones, permitted vending, each outlined and named by id), a
scale bar and a north arrow, on a local east/north grid in metres. The PNG is deterministic for the
same content and the same matplotlib (no timestamp or software name in its metadata).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Final

from streetwatch.casework.notice_content import MAP_HALF_SIZE_M, MapZone
from streetwatch.core.geo import EARTH_MEAN_RADIUS_M

MAP_PIXELS: Final = 480  # the PNG is square; printed about 5.5 cm wide, so about 220 dpi
_ZONE_STYLE: Final = {  # kind: (edge colour, face colour)
    "grid": ("#2563eb", "none"),
    "no_parking": ("#dc2626", "#fecaca"),
    "no_vending": ("#d97706", "#fde68a"),
    "permitted_vending": ("#16a34a", "#bbf7d0"),
}


def _local_xy(lat0: float, lon0: float, lon: float, lat: float) -> tuple[float, float]:
    """Metres east and north of (lat0, lon0): an equirectangular projection, exact enough over 100 m."""
    x = math.radians(lon - lon0) * EARTH_MEAN_RADIUS_M * math.cos(math.radians(lat0))
    y = math.radians(lat - lat0) * EARTH_MEAN_RADIUS_M
    return x, y


def render_locator_png(lat: float, lon: float, zones: tuple[MapZone, ...], font_path: Path | None = None) -> bytes:
    """The locator map of a point as PNG bytes (``MAP_PIXELS`` square).

    Args:
        lat: The case's latitude.
        lon: The case's longitude.
        zones: The zones to outline (already chosen near the point).
        font_path: A font for zone labels (a CJK font prints Chinese ids too); matplotlib's default otherwise.
    """
    # A bare Figure renders with Agg and touches no pyplot state (safe in a server's threads).
    from matplotlib import font_manager
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrow, Polygon

    font = font_manager.FontProperties(fname=str(font_path), size=7) if font_path is not None else None
    half = MAP_HALF_SIZE_M
    dpi = 160
    figure = Figure(figsize=(MAP_PIXELS / dpi, MAP_PIXELS / dpi), dpi=dpi)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_xlim(-half, half)
    axes.set_ylim(-half, half)
    axes.set_aspect("equal")
    axes.set_facecolor("#f8fafc")
    for tick in range(-50, 51, 25):  # a 25 m grid: the only "streets" a tile-less map can draw honestly
        axes.axhline(tick, color="#e2e8f0", linewidth=0.6, zorder=0)
        axes.axvline(tick, color="#e2e8f0", linewidth=0.6, zorder=0)
    for zone in zones:
        edge, face = _ZONE_STYLE.get(zone.kind, ("#475569", "none"))
        for ring in zone.rings:
            points = [_local_xy(lat, lon, x, y) for x, y in ring]
            axes.add_patch(Polygon(points, closed=True, edgecolor=edge, facecolor=face, alpha=0.55,
                                   linewidth=1.2, zorder=1))
            cx = min(max(sum(p[0] for p in points) / len(points), -half * 0.8), half * 0.8)
            cy = min(max(sum(p[1] for p in points) / len(points), -half * 0.9), half * 0.9)
            axes.text(cx, cy, zone.zone_id, fontproperties=font, fontsize=7, color=edge, ha="center",
                      va="center", zorder=2, clip_on=True)
    axes.plot([0.0], [0.0], marker="o", markersize=9, markerfacecolor="#e11d48", markeredgecolor="white",
              markeredgewidth=1.5, zorder=4)
    # Scale bar: 20 m at the bottom left.
    x0, y0 = -half + 6, -half + 7
    axes.plot([x0, x0 + 20], [y0, y0], color="#0f172a", linewidth=2.2, solid_capstyle="butt", zorder=5)
    axes.text(x0 + 10, y0 + 2.5, "20 m", fontsize=7, ha="center", va="bottom", color="#0f172a", zorder=5)
    # North arrow at the top right.
    axes.add_patch(FancyArrow(half - 9, half - 22, 0, 12, width=1.2, head_width=5, head_length=5,
                              color="#0f172a", zorder=5))
    axes.text(half - 9, half - 26, "N", fontsize=8, ha="center", va="top", color="#0f172a", zorder=5)
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_edgecolor("#94a3b8")
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi, metadata={"Software": None})
    return out.getvalue()
