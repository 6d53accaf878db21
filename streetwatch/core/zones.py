"""City zones from GeoJSON: where parking or vending is forbidden, where vending is permitted and
when, and the grid cells (网格) with their responsible units (责任单位) used to route cases.

A zones file is a GeoJSON FeatureCollection of Polygon / MultiPolygon features in WGS84
[longitude, latitude] order; ``properties.kind`` picks the zone type and the other properties it
takes (see ``docs/rules.md``). Several files merge into one :class:`ZoneIndex`. Every problem in
a file is a :class:`ZoneError` naming the file, the feature and what was expected.

Distances are measured in a transverse Mercator projection centred on the zones, which keeps
scale errors below 0.01 % across a city.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import shapely
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.strtree import STRtree
from shapely.validation import explain_validity

from streetwatch.core.errors import ConfigurationError

DEFAULT_TIMEZONE = "Asia/Shanghai"
ZoneKind = Literal["no_parking", "no_vending", "permitted_vending", "grid"]
ZONE_KINDS: tuple[str, ...] = get_args(ZoneKind)
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_KEYS = {name: i for names in (WEEKDAY_NAMES, _FULL_WEEKDAY_NAMES) for i, name in enumerate(names)}
_SPAN = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")
_CRS84 = {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "urn:ogc:def:crs:EPSG::4326",
          "EPSG:4326", "CRS84"}


class ZoneError(ConfigurationError, ValueError):
    """A zones file is missing, malformed or describes an impossible zone."""


# --- opening hours ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeSpan:
    """Minutes after local midnight; ``end_min < start_min`` means the span runs past midnight."""

    start_min: int
    end_min: int

    def __str__(self) -> str:
        return f"{_clock(self.start_min)}-{_clock(self.end_min)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_hours(text: object) -> tuple[TimeSpan, ...]:
    """Parse opening hours such as ``"07:00-10:00,17:00-21:00"`` or ``"18:00-02:00"`` (past midnight).

    Raises:
        ValueError: The text is not a comma-separated list of ``HH:MM-HH:MM`` spans of local time.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected opening hours like '07:00-10:00,17:00-21:00', got {text!r}")
    spans = []
    for part in text.split(","):
        match = _SPAN.fullmatch(part.replace(" ", ""))
        if match is None:
            raise ValueError(f"bad span '{part.strip()}': expected HH:MM-HH:MM, e.g. 07:00-10:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
            raise ValueError(f"bad span '{part.strip()}': hours run 00-23 (24:00 only as an "
                             "end), minutes 00-59")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start == end:
            raise ValueError(f"empty span '{part.strip()}': start equals end "
                             "(use 00:00-24:00 for all day)")
        spans.append(TimeSpan(start, end))
    return tuple(spans)


def parse_weekdays(value: object) -> frozenset[int]:
    """Parse weekdays: ``"mon-fri,sun"``, ``["sat", "sun"]`` or None (every day); Monday is 0.

    Raises:
        ValueError: An unknown day name, or not a string or list of strings.
    """
    if value is None:
        return frozenset(range(7))
    if isinstance(value, (frozenset, set)) and all(isinstance(d, int) and 0 <= d <= 6 for d in value):
        return frozenset(value)
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise ValueError(f"expected weekdays like 'mon-fri,sun' or ['sat', 'sun'], got {value!r}")
    days: set[int] = set()
    for item in items:
        ends = [_day(p, value) for p in item.split("-")]
        if len(ends) > 2:
            raise ValueError(f"bad weekday range '{item}' in {value!r}")
        first, last = ends[0], ends[-1]
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))   # "fri-mon" wraps the week
    return frozenset(days)


def _day(name: str, whole: object) -> int:
    key = name.strip().lower()
    if key not in _WEEKDAY_KEYS:
        raise ValueError(f"unknown weekday '{name.strip()}' in {whole!r} "
                         f"(expected {', '.join(WEEKDAY_NAMES)})")
    return _WEEKDAY_KEYS[key]


def check_timezone(name: str | None) -> str | None:
    if name is not None:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{name}' "
                             "(expected an IANA name such as 'Asia/Shanghai')") from None
    return name


# --- zone properties (one pydantic model per kind) --------------------------------------------


class _ZoneProperties(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True,
                              coerce_numbers_to_str=True)   # GIS tools write numeric ids

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    timezone: str | None = Field(None, description="IANA time zone of hours and reasons (else the default)")
    description: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)


class NoParkingZone(_ZoneProperties):
    """No vehicle may park here at any time (bus stops, fire lanes, pavements)."""

    kind: Literal["no_parking"]


class NoVendingZone(_ZoneProperties):
    """No vending here at any time, unless a permitted-vending zone open at the time overlaps it."""

    kind: Literal["no_vending"]


class PermittedVendingZone(_ZoneProperties):
    """Vending is allowed here during ``hours`` (local time) on ``weekdays`` (every day by default)."""

    kind: Literal["permitted_vending"]
    hours: Annotated[tuple[TimeSpan, ...], BeforeValidator(parse_hours)]
    weekdays: Annotated[frozenset[int], BeforeValidator(parse_weekdays)] = frozenset(range(7))

    def is_open(self, local: datetime) -> bool:
        """Whether vending is permitted at a local time; past-midnight spans belong to the day they start."""
        minute = local.hour * 60 + local.minute + local.second / 60.0
        day = local.weekday()
        for span in self.hours:
            if span.start_min < span.end_min:
                if day in self.weekdays and span.start_min <= minute < span.end_min:
                    return True
            elif (day in self.weekdays and minute >= span.start_min) or (
                    (day - 1) % 7 in self.weekdays and minute < span.end_min):
                return True
        return False

    def describe_hours(self) -> str:
        hours = ",".join(str(s) for s in self.hours)
        if len(self.weekdays) == 7:
            return hours
        return f"{hours} on {', '.join(WEEKDAY_NAMES[d] for d in sorted(self.weekdays))}"


class GridCell(_ZoneProperties):
    """A management grid cell (网格) and the unit responsible for it (责任单位)."""

    kind: Literal["grid"]
    grid_id: str = Field(min_length=1)
    unit: str = Field(min_length=1, description="Responsible unit's name (or id when no name is kept).")
    unit_id: str | None = None


ZoneProperties = Annotated[NoParkingZone | NoVendingZone | PermittedVendingZone | GridCell,
                           Field(discriminator="kind")]
_PROPERTIES: TypeAdapter[NoParkingZone | NoVendingZone | PermittedVendingZone | GridCell] = TypeAdapter(
    ZoneProperties)
_MODELS: dict[str, type[_ZoneProperties]] = {
    "no_parking": NoParkingZone, "no_vending": NoVendingZone, "permitted_vending": PermittedVendingZone,
    "grid": GridCell}


@dataclass(frozen=True, slots=True)
class Zone:
    """One zone: its typed properties, its outline in WGS84 lon/lat and its time zone."""

    properties: NoParkingZone | NoVendingZone | PermittedVendingZone | GridCell
    geometry: Polygon | MultiPolygon
    timezone: ZoneInfo
    source: str   # "path#features[3]", for messages

    @property
    def id(self) -> str:
        return self.properties.id

    @property
    def name(self) -> str:
        return self.properties.name

    @property
    def kind(self) -> str:
        return self.properties.kind

    def local_time(self, t_utc: float) -> datetime:
        return datetime.fromtimestamp(t_utc, self.timezone)


# --- loading ----------------------------------------------------------------------------------


def load_zones(paths: Iterable[Path | str], default_timezone: str = DEFAULT_TIMEZONE) -> ZoneIndex:
    """Read, validate and merge zones files into one index.

    Args:
        paths: GeoJSON FeatureCollection files; zone ids must be unique across all of them.
        default_timezone: IANA time zone of zones that name none.

    Raises:
        ZoneError: A file is missing, not JSON, not a FeatureCollection, or has a bad feature.
    """
    zones: list[Zone] = []
    for path in paths:
        zones.extend(read_zones_file(path, default_timezone))
    return ZoneIndex(zones)


def read_zones_file(path: Path | str, default_timezone: str = DEFAULT_TIMEZONE) -> list[Zone]:
    """Read and validate one zones file (see :func:`load_zones`)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ZoneError(f"zones file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ZoneError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ZoneError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}") from None
    return parse_zones(raw, str(path), default_timezone)


def parse_zones(raw: Any, source: str = "zones", default_timezone: str = DEFAULT_TIMEZONE) -> list[Zone]:
    """Validate a decoded GeoJSON FeatureCollection and build its zones (see :func:`load_zones`)."""
    try:
        check_timezone(default_timezone)
    except ValueError as exc:
        raise ZoneError(f"default time zone: {exc}") from None
    if not isinstance(raw, dict) or raw.get("type") != "FeatureCollection":
        found = f"type '{raw.get('type')}'" if isinstance(raw, dict) else type(raw).__name__
        raise ZoneError(f"{source}: expected a GeoJSON FeatureCollection, found {found}")
    crs = raw.get("crs")   # pre-RFC 7946 files may name their coordinate system
    if isinstance(crs, dict):
        crs = crs["properties"].get("name") if isinstance(crs.get("properties"), dict) else None
    if crs is not None and str(crs) not in _CRS84:
        raise ZoneError(f"{source}: coordinates must be WGS84 longitude/latitude, "
                        f"but the file declares crs '{crs}'")
    features = raw.get("features")
    if not isinstance(features, list):
        raise ZoneError(f"{source}: 'features' must be a list, found {type(features).__name__}")
    zones = [_parse_feature(feature, i, source, default_timezone) for i, feature in enumerate(features)]
    _check_unique(zones)
    return zones


def _parse_feature(feature: Any, index: int, source: str, default_timezone: str) -> Zone:
    where = f"{source}: features[{index}]"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ZoneError(f"{where}: expected a GeoJSON Feature object")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise ZoneError(f"{where}: 'properties' must be an object, found {type(props).__name__}")
    props = dict(props)
    if "id" not in props and feature.get("id") is not None:
        props["id"] = str(feature["id"])     # GIS exports often keep the id on the feature itself
    if props.get("id") is not None:
        where += f" (id '{props['id']}')"
    kind = props.get("kind")
    if kind not in ZONE_KINDS:
        found = "missing" if kind is None else f"'{kind}' is unknown"
        raise ZoneError(f"{where}: properties.kind {found}; expected one of {', '.join(ZONE_KINDS)}"
                        f"{_did_you_mean(kind, ZONE_KINDS)}")
    try:
        properties = _PROPERTIES.validate_python(props)
    except ValidationError as exc:
        raise ZoneError(f"{where}: {_describe(exc, kind)}") from None
    geometry = _parse_geometry(feature.get("geometry"), where)
    timezone = ZoneInfo(properties.timezone or default_timezone)
    return Zone(properties, geometry, timezone, f"{source}#features[{index}]")


def _parse_geometry(raw: Any, where: str) -> Polygon | MultiPolygon:
    if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
        found = raw.get("type") if isinstance(raw, dict) else raw
        raise ZoneError(f"{where}: geometry must be a Polygon or MultiPolygon, found {found!r}")
    try:
        geometry = shape(raw)
        coords = shapely.get_coordinates(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise ZoneError(f"{where}: malformed {raw['type']} coordinates: {exc}") from None
    if geometry.is_empty or len(coords) == 0:
        raise ZoneError(f"{where}: the {raw['type']} has no coordinates")
    if (problem := lonlat_problem(coords[:, 0], coords[:, 1])) is not None:
        raise ZoneError(f"{where}: {problem}")
    geometry = shapely.force_2d(geometry)
    if not geometry.is_valid:
        raise ZoneError(f"{where}: invalid {raw['type']}: {explain_validity(geometry)} "
                        "(rings must not cross themselves or each other; holes must lie inside)")
    return geometry


def _check_unique(zones: Sequence[Zone]) -> None:
    seen: dict[str, Zone] = {}
    for zone in zones:
        if (other := seen.setdefault(zone.id, zone)) is not zone:
            raise ZoneError(f"zone id '{zone.id}' is used twice: {other.source} and {zone.source}")


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1) if isinstance(word, str) else []
    return f" (did you mean '{close[0]}'?)" if close else ""


def _describe(exc: ValidationError, kind: str) -> str:
    """One line per pydantic error, phrased for the person who wrote the zones file."""
    fields = [f for f in _MODELS[kind].model_fields if f != "kind"]
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        if loc and loc[0] in ZONE_KINDS:   # a discriminated union puts the tag first
            loc = loc[1:]
        name = "properties." + ".".join(loc) if loc else "properties"
        if error["type"] == "missing":
            parts.append(f"{name} is required for kind '{kind}'")
        elif error["type"] == "extra_forbidden":
            parts.append(f"{name} is not a property of this kind (allowed: {', '.join(fields)})"
                         f"{_did_you_mean(loc[-1], fields)}")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            parts.append(f"{name} = {error['input']!r}: {message}")
    return "; ".join(parts)


# --- shared with the permit registry ---------------------------------------------------------


def lonlat_problem(lon: npt.ArrayLike, lat: npt.ArrayLike) -> str | None:
    """What is wrong with WGS84 positions, if anything; hints when latitude and longitude look swapped."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lat) > 90) | (np.abs(lon) > 180)
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    hint = ""
    if (np.abs(lon) <= 90).all() and (np.abs(lat) <= 180).all():
        hint = " -- latitude and longitude look swapped (GeoJSON positions are [longitude, latitude])"
    return (f"position lon={lon[i]}, lat={lat[i]} is not WGS84 (longitude must be within [-180, 180], "
            f"latitude within [-90, 90]){hint}")


def local_metric_transformer(geometries: Sequence[shapely.Geometry]) -> Transformer:
    """A WGS84 lon/lat -> metres transformer: transverse Mercator centred on the geometries' bounds."""
    west, south, east, north = shapely.total_bounds(geometries) if len(geometries) else (0.0, 0.0, 0.0, 0.0)
    return Transformer.from_crs("EPSG:4326", f"+proj=tmerc +lat_0={(south + north) / 2} "
                                f"+lon_0={(west + east) / 2} +k=1 +ellps=WGS84 +units=m", always_xy=True)


# --- the index --------------------------------------------------------------------------------


class ZoneIndex:
    """Zones with a spatial index for point queries; distances in metres."""

    def __init__(self, zones: Sequence[Zone]) -> None:
        _check_unique(zones)
        self.zones: tuple[Zone, ...] = tuple(zones)
        self._to_local = local_metric_transformer([z.geometry for z in self.zones])
        self._local = [shapely.transform(z.geometry, self._project) for z in self.zones]
        self._tree = STRtree(self._local)
        self._position = {zone.id: i for i, zone in enumerate(self.zones)}

    def __len__(self) -> int:
        return len(self.zones)

    def __iter__(self) -> Iterator[Zone]:
        return iter(self.zones)

    def _project(self, lonlat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = self._to_local.transform(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([x, y])

    def _point(self, lat: float, lon: float) -> Point:
        x, y = self._to_local.transform(lon, lat)
        return Point(x, y)

    def zones_at(self, lat: float, lon: float, kind: str | None = None) -> list[Zone]:
        """Zones containing (or touching) a point, in file order; only those of ``kind`` when given."""
        if kind is not None and kind not in ZONE_KINDS:
            raise ValueError(f"unknown zone kind '{kind}' (expected one of {', '.join(ZONE_KINDS)})")
        hits = sorted(int(i) for i in self._tree.query(self._point(lat, lon), predicate="intersects"))
        return [self.zones[i] for i in hits if kind is None or self.zones[i].kind == kind]

    def distance_inside_m(self, zone: Zone, lat: float, lon: float) -> float:
        """Metres from a point to the zone's edge: positive inside, negative outside, 0 on the edge."""
        local = self._local[self._position[zone.id]]
        point = self._point(lat, lon)
        edge = float(local.boundary.distance(point))
        return edge if local.covers(point) else -edge

    def grid_at(self, lat: float, lon: float) -> Zone | None:
        """The grid cell (网格) at a point; the first in file order where cells overlap."""
        cells = self.zones_at(lat, lon, "grid")
        return cells[0] if cells else None
