"""The registry of licensed advertising (signboards, banners, ad boards) with positions.

A registry is a CSV file (columns ``licence_id,name,lat,lon,class`` and optional ``valid_from``,
``valid_to``, ``address``) or a GeoJSON FeatureCollection of Point features with the same
properties (position from the geometry). See ``docs/rules.md``. Every problem is a
:class:`PermitError` naming the file, the line or feature, the licence and what was expected.
"""

from __future__ import annotations

import csv
import difflib
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from shapely.geometry import Point
from shapely.strtree import STRtree

from streetwatch.core.errors import ConfigurationError
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.zones import local_metric_transformer, lonlat_problem

REQUIRED_COLUMNS = ("licence_id", "name", "lat", "lon", "class")
OPTIONAL_COLUMNS = ("valid_from", "valid_to", "address")
PERMIT_FAMILY = "ads"


class PermitError(ConfigurationError, ValueError):
    """A permit registry file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Permit:
    """One licensed object at a position, valid between two dates (inclusive) when they are given."""

    licence_id: str
    name: str
    lat: float
    lon: float
    class_name: str
    valid_from: date | None = None
    valid_to: date | None = None
    address: str | None = None
    source: str = ""   # "path:line 7" or "path#features[3]", for messages

    def valid_on(self, day: date) -> bool:
        starts_ok = self.valid_from is None or self.valid_from <= day
        return starts_ok and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True, slots=True)
class PermitMatch:
    permit: Permit
    distance_m: float


class _PermitRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True,
                              coerce_numbers_to_str=True)

    licence_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    lat: float
    lon: float
    class_name: str = Field(alias="class", min_length=1)
    valid_from: date | None = None
    valid_to: date | None = None
    address: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _PermitRecord:
        if (problem := lonlat_problem([self.lon], [self.lat])) is not None:
            raise ValueError(problem)
        if self.valid_from and self.valid_to and self.valid_from > self.valid_to:
            raise ValueError(f"valid_from {self.valid_from} is after valid_to {self.valid_to}")
        return self


def load_permits(path: Path | str, taxonomy: Taxonomy | None = None) -> PermitRegistry:
    """Read and validate a permit registry (CSV, or GeoJSON points: by the file's suffix).

    Args:
        path: A ``.csv``, ``.geojson`` or ``.json`` file.
        taxonomy: When given, every ``class`` must name an advertising class (or alias) of it and is
            stored under its canonical name; without it, classes are kept as written (lower case).

    Raises:
        PermitError: The file is missing or malformed, or a record is invalid.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".geojson", ".json"):
        raise PermitError(f"{path}: unknown registry format '{suffix}' (expected .csv, .geojson or .json)")
    try:
        text = path.read_text(encoding="utf-8-sig")   # Excel writes a BOM in front of UTF-8 CSV
    except FileNotFoundError:
        raise PermitError(f"permit registry not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise PermitError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    rows = _csv_rows(text, str(path)) if suffix == ".csv" else _geojson_rows(text, str(path))
    permits = [_permit(row, where, taxonomy) for where, row in rows]
    return PermitRegistry(permits)


def _csv_rows(text: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise PermitError(f"{source}: empty file; expected a header line {','.join(REQUIRED_COLUMNS)}")
    if missing := [c for c in REQUIRED_COLUMNS if c not in header]:
        raise PermitError(f"{source}:line 1: missing column(s) {', '.join(missing)} "
                          f"(the header must name {', '.join(REQUIRED_COLUMNS)})")
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    if unknown := [c for c in header if c not in known]:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise PermitError(f"{source}:line 1: unknown column(s) {', '.join(unknown)} "
                          f"(allowed: {', '.join(known)}){hint}")
    reader.fieldnames = header
    rows = []
    for row in reader:
        where = f"{source}:line {reader.line_num}"
        if None in row or None in row.values():   # DictReader's marks for too many / too few cells
            found = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or [])
            raise PermitError(f"{where}: expected {len(header)} cells as in the header, found {found}")
        rows.append((where, {k: v for k, v in row.items() if v is not None and v.strip() != ""}))
    return rows


def _geojson_rows(text: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PermitError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}") from None
    if not isinstance(raw, dict) or raw.get("type") != "FeatureCollection" or not isinstance(
            raw.get("features"), list):
        raise PermitError(f"{source}: expected a GeoJSON FeatureCollection with a 'features' list")
    rows = []
    for i, feature in enumerate(raw["features"]):
        where = f"{source}#features[{i}]"
        props = feature.get("properties") if isinstance(feature, dict) else None
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            raise PermitError(f"{where}: expected a Feature with a 'properties' object")
        if (not isinstance(geometry, dict) or geometry.get("type") != "Point"
                or not isinstance(geometry.get("coordinates"), list) or len(geometry["coordinates"]) < 2):
            raise PermitError(f"{where}: geometry must be a Point [longitude, latitude], found {geometry!r}")
        lon, lat = geometry["coordinates"][:2]
        if "lat" in props or "lon" in props:
            raise PermitError(f"{where}: put the position in the Point geometry, not in properties lat/lon")
        given = {k: v for k, v in props.items() if v not in (None, "")}
        rows.append((where, {**given, "lat": lat, "lon": lon}))
    return rows


def _permit(row: dict[str, Any], where: str, taxonomy: Taxonomy | None) -> Permit:
    if row.get("licence_id"):
        where += f" (licence '{row['licence_id']}')"
    try:
        record = _PermitRecord.model_validate(row)
    except ValidationError as exc:
        raise PermitError(f"{where}: {_describe(exc)}") from None
    return Permit(record.licence_id, record.name, record.lat, record.lon,
                  _class_name(record.class_name, where, taxonomy), record.valid_from, record.valid_to,
                  record.address, where)


def _class_name(name: str, where: str, taxonomy: Taxonomy | None) -> str:
    if taxonomy is None:
        return name.lower()
    spec = taxonomy.lookup(name)
    if spec is None or spec.family != PERMIT_FAMILY:
        allowed = sorted(c.name for c in taxonomy.classes.values() if c.family == PERMIT_FAMILY)
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise PermitError(f"{where}: class = '{name}' is not an advertising class of the taxonomy "
                          f"(expected one of {', '.join(allowed)}){hint}")
    return spec.name


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error["loc"]) or "record"
        if error["type"] == "missing":
            parts.append(f"{name} is required")
        elif error["type"] == "extra_forbidden":
            allowed = ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
            parts.append(f"{name} is not a registry field (allowed: {allowed})")
        else:
            where = f"{name} = {error['input']!r}: " if error["loc"] else ""
            parts.append(where + str(error["msg"]).removeprefix("Value error, "))
    return "; ".join(parts)


class PermitRegistry:
    """Permits with a spatial index; distances in metres."""

    def __init__(self, permits: Sequence[Permit]) -> None:
        seen: dict[str, Permit] = {}
        for permit in permits:
            if (other := seen.setdefault(permit.licence_id, permit)) is not permit:
                raise PermitError(f"licence id '{permit.licence_id}' is used twice: {other.source} and "
                                  f"{permit.source}")
        self.permits: tuple[Permit, ...] = tuple(permits)
        points = [Point(p.lon, p.lat) for p in self.permits]
        self._to_local = local_metric_transformer(points)
        self._local = [self._point(p.lat, p.lon) for p in self.permits]
        self._tree = STRtree(self._local)

    def __len__(self) -> int:
        return len(self.permits)

    def __iter__(self) -> Iterator[Permit]:
        return iter(self.permits)

    def _point(self, lat: float, lon: float) -> Point:
        x, y = self._to_local.transform(lon, lat)
        return Point(x, y)

    def within(self, lat: float, lon: float, radius_m: float, class_name: str | Collection[str] | None = None,
               on: date | None = None) -> list[PermitMatch]:
        """Permits within ``radius_m`` of a point, nearest first.

        Args:
            lat: Latitude of the point, degrees.
            lon: Longitude of the point, degrees.
            radius_m: Search radius in metres.
            class_name: Only permits of this class (or of any of these classes); all when None.
            on: Only permits valid on this (local) date; validity is ignored when None.
        """
        wanted = {class_name} if isinstance(class_name, str) else class_name
        centre = self._point(lat, lon)
        matches = []
        for i in self._tree.query(centre, predicate="dwithin", distance=radius_m):
            permit = self.permits[int(i)]
            if (wanted is None or permit.class_name in wanted) and (on is None or permit.valid_on(on)):
                matches.append(PermitMatch(permit, float(shapely.distance(centre, self._local[int(i)]))))
        return sorted(matches, key=lambda m: (m.distance_m, m.permit.licence_id))

    def nearest(self, lat: float, lon: float, radius_m: float,
                class_name: str | Collection[str] | None = None,
                on: date | None = None) -> PermitMatch | None:
        """The nearest permit within ``radius_m`` (see :meth:`within`), or None."""
        matches = self.within(lat, lon, radius_m, class_name, on)
        return matches[0] if matches else None
