"""One case per real problem: group geolocated sightings of the same thing.

A sighting is one object's track in one video, placed on the map. Sightings of the same
family within ``radius_m`` of a case's centre are that case: the frames of one track are
already one sighting; this joins the tracks one object was split into within a video (tracker
id switches) and the passes of later patrols.

Grouping is centre-based: a sighting joins a case of its family whose centre lies within
``radius_m`` (plus a small allowance for the sighting's own position uncertainty), or opens a
new case. A case's centre is the uncertainty-weighted mean of its sightings. Comparing with
centres, not with every member, stops chains (A near B near C...) from merging a whole street
into one case. Sightings are matched a video at a time (``match_batch``, as a store does when
it commits a video): GPS errors wander slowly, so a patrol's stretch sits a few metres off the
last patrol's; the offset measured on unambiguous matches nearby in time is taken off before
matching, and pairs are taken nearest first.

Two sightings from the same source (one video) whose times overlap are two objects: the
tracker saw both at once. A sighting never joins a case holding such a sibling, which keeps
neighbours apart (two stalls side by side, cars on both kerbs) and leaves id-switch fragments,
which follow one another in time, free to join.

Candidate cases are found through H3 cells (resolution 12: hexagons of about 10 m edge), so
grouping n sightings costs O(n). The same helpers (``cell_of``, ``cells_within``,
``same_problem``) serve the database version of this search.

Pure: no database, no I/O.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import h3
import numpy as np
import numpy.typing as npt

from streetwatch.core.geo import LocalPlane, haversine_m

H3_RESOLUTION = 12  # average hexagon edge ~10.8 m (9-10 m at mid latitudes)
DEFAULT_RADIUS_M = 10.0
ALIGN_WINDOW_S = 30.0   # GPS errors wander over tens of seconds: one offset holds this long
ANCHOR_MARGIN_M = 5.0   # a match is beyond doubt when the next case is this much farther


def cell_of(lat: float, lon: float) -> str:
    """The H3 cell (at ``H3_RESOLUTION``) that holds a point.

    Args:
        lat: Latitude, degrees.
        lon: Longitude, degrees.

    Returns:
        The cell's hexadecimal index.

    Raises:
        ValueError: If the coordinates are not finite or out of range.
    """
    _check_point(lat, lon)
    return str(h3.latlng_to_cell(lat, lon, H3_RESOLUTION))


def cells_within(lat: float, lon: float, radius_m: float) -> set[str]:
    """Every H3 cell that can hold a point within ``radius_m`` of (lat, lon).

    A superset: filter the candidates found in these cells by their true distance
    (``same_problem``). Sized from the local cell geometry, so it holds at any latitude.

    Args:
        lat: Latitude, degrees.
        lon: Longitude, degrees.
        radius_m: Search radius, metres (>= 0).

    Returns:
        The cells' indices.

    Raises:
        ValueError: If the coordinates are invalid or the radius is negative or not finite.
    """
    if not (math.isfinite(radius_m) and radius_m >= 0.0):
        raise ValueError(f"radius_m must be a finite number of metres >= 0, got {radius_m}")
    centre = cell_of(lat, lon)
    centre_lat, centre_lon = h3.cell_to_latlng(centre)
    vertex_m = [haversine_m(centre_lat, centre_lon, v_lat, v_lon)
                for v_lat, v_lon in h3.cell_to_boundary(centre)]
    circumradius, inner = max(vertex_m), min(vertex_m)
    # A point P within radius of Q lies in a cell whose centre is within radius + 2 circumradii of
    # Q's cell centre; cells outside grid_disk(k) have centres at least 1.5 (k + 1) edges away.
    # One extra ring absorbs the grid's distortion.
    k = math.floor((radius_m + 2.0 * circumradius) / (1.5 * inner)) + 1
    return {str(c) for c in h3.grid_disk(centre, k)}


def same_problem(a_family: str, a_lat: float, a_lon: float, b_family: str, b_lat: float, b_lon: float,
                 radius_m: float) -> bool:
    """Whether two placed things are the same problem: same family, at most ``radius_m`` apart.

    Args:
        a_family: Violation family of the first (``stall``, ``parking``, ...).
        a_lat: Its latitude.
        a_lon: Its longitude.
        b_family: Violation family of the second.
        b_lat: Its latitude.
        b_lon: Its longitude.
        radius_m: Largest distance, metres, between two sightings of one problem.
    """
    return a_family == b_family and haversine_m(a_lat, a_lon, b_lat, b_lon) <= radius_m


@dataclass(frozen=True, slots=True)
class Sighting:
    """One object's track in one video, placed on the map.

    Attributes:
        key: Identifies the sighting for the caller (e.g. ``"video 12 / track 4"``); breaks ties.
        family: Violation family; only the same family can be the same case.
        class_name: Detector class (informational: an umbrella and a table are one stall).
        lat: Latitude, degrees.
        lon: Longitude, degrees.
        t: When it was seen, UTC epoch seconds (orders the grouping).
        uncertainty_m: Radius of the position's uncertainty (``Location.uncertainty_m``), 0 if unknown.
        source: Where it was seen (a video's id); "" for unknown. Sightings from one source that
            overlap in time are never the same case.
        t_end: When it was last seen (UTC epoch seconds); None for a single instant ``t``.
    """

    key: str
    family: str
    class_name: str
    lat: float
    lon: float
    t: float
    uncertainty_m: float = 0.0
    source: str = ""
    t_end: float | None = None

    def __post_init__(self) -> None:
        _check_point(self.lat, self.lon, what=f"sighting {self.key!r}")
        if not math.isfinite(self.t):
            raise ValueError(f"sighting {self.key!r}: time must be finite, got {self.t}")
        if not (math.isfinite(self.uncertainty_m) and self.uncertainty_m >= 0.0):
            raise ValueError(f"sighting {self.key!r}: uncertainty_m must be finite and >= 0, "
                             f"got {self.uncertainty_m}")
        if self.t_end is not None and not (math.isfinite(self.t_end) and self.t_end >= self.t):
            raise ValueError(f"sighting {self.key!r}: t_end must be finite and >= t ({self.t}), "
                             f"got {self.t_end}")

    @property
    def end(self) -> float:
        return self.t if self.t_end is None else self.t_end


@dataclass(frozen=True, slots=True)
class CaseCentre:
    """An existing case as matching needs it: its family, centre and the sightings it holds.

    Attributes:
        family: Violation family of the case.
        lat: Latitude of its centre, degrees.
        lon: Longitude of its centre, degrees.
        spans: ``(source, t, t_end)`` of its sightings, for the same-video rule.
    """

    family: str
    lat: float
    lon: float
    spans: tuple[tuple[str, float, float], ...] = ()


def match_batch(batch: Sequence[Sighting], cases: Sequence[CaseCentre], radius_m: float = DEFAULT_RADIUS_M,
                max_allowance_m: float | None = None, overlap_tolerance_s: float = 0.5,
                align_window_s: float = ALIGN_WINDOW_S) -> list[int]:
    """Match one video's sightings to existing cases: the step a store runs when a video commits.

    GPS errors wander slowly (tens of seconds), so a whole stretch of one patrol sits a few
    metres off the last one. Sightings that match a case without doubt (one case within
    ``radius_m``, the next one ``ANCHOR_MARGIN_M`` farther) measure that offset; every sighting
    is compared with the cases after taking off the median offset of the anchors within
    ``align_window_s`` of it (when there are 3 or more). Then pairs are taken nearest first: a
    sighting joins a case of its family whose centre is within ``radius_m + min(uncertainty_m,
    max_allowance_m)`` of it and that holds no sighting from the same source seen at the same time.

    Args:
        batch: The sightings of one source (one video).
        cases: The existing cases near them (found with ``cells_within``).
        radius_m: Largest distance from a case's centre for a sighting of the same problem.
        max_allowance_m: Cap on the extra distance granted for a sighting's uncertainty;
            defaults to ``radius_m / 4``.
        overlap_tolerance_s: Sightings of one source overlapping in time by more are two objects.
        align_window_s: Half-width of the time window for the local GPS offset; 0 disables it.

    Returns:
        For each sighting, the index of its case in ``cases``, or -1: no existing case (open one).

    Raises:
        ValueError: If a parameter is negative or not finite.
    """
    allowance_cap = _check_parameters(radius_m, max_allowance_m, overlap_tolerance_s, align_window_s)
    if not batch or not cases:
        return [-1] * len(batch)
    lat0 = batch[0].lat
    plane = LocalPlane(lat0, batch[0].lon)
    sight_en = np.array([plane.to_en(s.lat, s.lon) for s in batch])
    case_en = np.array([plane.to_en(c.lat, c.lon) for c in cases])
    families = {f: k for k, f in enumerate({*(s.family for s in batch), *(c.family for c in cases)})}
    same_family = (np.array([families[s.family] for s in batch])[:, None]
                   == np.array([families[c.family] for c in cases])[None, :])

    def distances(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        d = np.hypot(*(points[:, None, :] - case_en[None, :, :]).transpose(2, 0, 1))
        return np.where(same_family, d, np.inf)

    raw = distances(sight_en)
    shifted = sight_en + _local_offsets(batch, sight_en, case_en, raw, radius_m, align_window_s)
    near = distances(shifted)
    reach = radius_m + np.minimum([s.uncertainty_m for s in batch], allowance_cap)
    spans: dict[int, list[tuple[str, float, float]]] = {}
    assigned = [-1] * len(batch)
    rows, cols = (idx.tolist() for idx in np.nonzero(near <= reach[:, None]))
    pairs = sorted((float(near[i, c]), batch[i].t, i, c) for i, c in zip(rows, cols, strict=True))
    for _distance, _t, i, c in pairs:  # nearest pairs first
        if assigned[i] >= 0:
            continue
        held = spans.setdefault(c, list(cases[c].spans))
        s = batch[i]
        if s.source and any(src == s.source and min(end, s.end) - max(t, s.t) > overlap_tolerance_s
                            for src, t, end in held):
            continue
        assigned[i] = c
        held.append((s.source, s.t, s.end))
    return assigned


def _local_offsets(batch: Sequence[Sighting], sight_en: npt.NDArray[np.float64],
                   case_en: npt.NDArray[np.float64], raw: npt.NDArray[np.float64], radius_m: float,
                   window_s: float) -> npt.NDArray[np.float64]:
    """Per sighting, the median (case - sighting) offset of the unambiguous matches near it in time."""
    offsets = np.zeros_like(sight_en)
    if window_s <= 0.0 or raw.shape[1] == 0:
        return offsets
    ranked = np.sort(raw, axis=1)
    first = ranked[:, 0]
    second = ranked[:, 1] if raw.shape[1] > 1 else np.full(len(batch), np.inf)
    anchors = (first <= radius_m) & (second - first >= ANCHOR_MARGIN_M)
    anchor_offsets = case_en[np.argmin(raw, axis=1)] - sight_en
    middle = np.array([(s.t + s.end) / 2.0 for s in batch])
    for i in range(len(batch)):
        near = anchors & (np.abs(middle - middle[i]) <= window_s)
        if near.sum() >= 3:
            offset = np.median(anchor_offsets[near], axis=0)
            length = float(np.hypot(*offset))
            offsets[i] = offset if length <= radius_m else offset * radius_m / length
    return offsets


@dataclass(slots=True)
class _Case:
    family: str
    weight: float
    lat: float
    lon: float
    cell: str
    spans: list[tuple[str, float, float]]

    def overlaps(self, s: Sighting, tolerance_s: float) -> bool:
        """Whether the case holds a sighting from the same source seen at the same time as ``s``."""
        return bool(s.source) and any(src == s.source and min(end, s.end) - max(t, s.t) > tolerance_s
                                      for src, t, end in self.spans)


class _Cases:
    """The cases opened so far, found by (family, H3 cell) of their centres."""

    def __init__(self) -> None:
        self.cases: list[_Case] = []
        self.by_cell: dict[tuple[str, str], list[int]] = defaultdict(list)

    def near(self, s: Sighting, reach_m: float) -> list[tuple[float, int]]:
        """(distance, case id) of the cases of ``s``'s family whose centre is within ``reach_m``."""
        found = []
        for cell in cells_within(s.lat, s.lon, reach_m):
            for case_id in self.by_cell.get((s.family, cell), ()):
                case = self.cases[case_id]
                distance = haversine_m(s.lat, s.lon, case.lat, case.lon)
                if distance <= reach_m:
                    found.append((distance, case_id))
        return found

    def open(self, s: Sighting) -> int:
        case_id = len(self.cases)
        first = [(s.source, s.t, s.end)]
        self.cases.append(_Case(s.family, _weight(s), s.lat, s.lon, cell_of(s.lat, s.lon), first))
        self.by_cell[(s.family, self.cases[case_id].cell)].append(case_id)
        return case_id

    def join(self, case_id: int, s: Sighting) -> None:
        case = self.cases[case_id]
        weight = _weight(s)
        total = case.weight + weight
        case.lat += (s.lat - case.lat) * weight / total
        case.lon += (s.lon - case.lon) * weight / total
        case.weight = total
        case.spans.append((s.source, s.t, s.end))
        moved_to = cell_of(case.lat, case.lon)
        if moved_to != case.cell:
            self.by_cell[(case.family, case.cell)].remove(case_id)
            self.by_cell[(case.family, moved_to)].append(case_id)
            case.cell = moved_to

    def centre(self, case_id: int) -> CaseCentre:
        case = self.cases[case_id]
        return CaseCentre(case.family, case.lat, case.lon, tuple(case.spans))


def _weight(s: Sighting) -> float:
    return 1.0 / max(s.uncertainty_m, 1.0) ** 2  # surer positions pull a case's centre harder


def group_sightings(sightings: Sequence[Sighting], radius_m: float = DEFAULT_RADIUS_M,
                    max_allowance_m: float | None = None, overlap_tolerance_s: float = 0.5,
                    align_window_s: float = ALIGN_WINDOW_S) -> list[int]:
    """Assign each sighting a case index: one case per real problem.

    Sightings come in batches, one per source (a video), taken in the order the sources start;
    a sighting without a source is a batch of its own. Each batch is matched to the cases opened
    before it with ``match_batch`` (local GPS offset, nearest pairs first, the same-video rule).
    The sightings left over then, in time order, join the nearest case opened within the batch
    (an object split by a tracker id switch) or open a new case. The result does not depend on
    the input order except for exact ties.

    Args:
        sightings: The sightings, any order.
        radius_m: Largest distance from a case's centre for a sighting of the same problem.
        max_allowance_m: Cap on the extra distance granted for a sighting's uncertainty;
            defaults to ``radius_m / 4`` so that vague positions cannot swallow neighbours.
        overlap_tolerance_s: Two sightings of one source that overlap by at most this long may
            still be one object (a tracker handing over between ids).
        align_window_s: See ``match_batch``.

    Returns:
        For each input sighting (same order), its case index; cases are numbered 0, 1, ... in
        the order they were opened.

    Raises:
        ValueError: If a parameter is negative or not finite.
    """
    allowance_cap = _check_parameters(radius_m, max_allowance_m, overlap_tolerance_s, align_window_s)
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sightings):
        by_source[s.source or f"\0{i}"].append(i)

    def order(i: int) -> tuple[float, str, int]:
        return sightings[i].t, sightings[i].key, i

    batches = sorted((sorted(batch, key=order) for batch in by_source.values()), key=lambda b: order(b[0]))
    cases = _Cases()
    assigned = [-1] * len(sightings)
    for batch in batches:
        before = len(cases.cases)
        reach = {i: radius_m + min(sightings[i].uncertainty_m, allowance_cap) for i in batch}
        # existing cases the batch might match, once its GPS offset (at most radius_m) is taken off
        candidates = sorted({c for i in batch for _, c in cases.near(sightings[i], reach[i] + radius_m)})
        matched = match_batch([sightings[i] for i in batch], [cases.centre(c) for c in candidates], radius_m,
                              max_allowance_m, overlap_tolerance_s, align_window_s)
        for i, m in zip(batch, matched, strict=True):
            if m >= 0:
                assigned[i] = candidates[m]
                cases.join(candidates[m], sightings[i])
        for i in batch:
            if assigned[i] >= 0:
                continue
            s = sightings[i]
            fresh = [(d, c) for d, c in cases.near(s, reach[i])
                     if c >= before and not cases.cases[c].overlaps(s, overlap_tolerance_s)]
            assigned[i] = min(fresh)[1] if fresh else cases.open(s)
            if fresh:
                cases.join(assigned[i], s)
    return assigned


def _check_parameters(radius_m: float, max_allowance_m: float | None, overlap_tolerance_s: float,
                      align_window_s: float) -> float:
    """Validate the grouping parameters; return the uncertainty allowance cap."""
    allowance_cap = radius_m / 4.0 if max_allowance_m is None else max_allowance_m
    for name, value, unit in (("radius_m", radius_m, "metres"), ("max_allowance_m", allowance_cap, "metres"),
                              ("overlap_tolerance_s", overlap_tolerance_s, "seconds"),
                              ("align_window_s", align_window_s, "seconds")):
        if not (math.isfinite(value) and value >= 0.0):
            shown = max_allowance_m if name == "max_allowance_m" else value
            raise ValueError(f"{name} must be a finite number of {unit} >= 0, got {shown}")
    return allowance_cap


def _check_point(lat: float, lon: float, what: str = "point") -> None:
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0 and math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ValueError(f"{what}: latitude must be within [-90, 90] and longitude within [-180, 180], "
                         f"got {lat}, {lon}")
