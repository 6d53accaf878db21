"""Real inputs for the rule tests: observations at chosen places and times, zone features, files."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import yaml
from pyproj import Geod

from streetwatch.core.settings import DEFAULT_TAXONOMY, MODELS_DIR
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.core.types import Location, LocationStatus, Observation, TrackPoint
from streetwatch.store.evidence import encode_jpeg

SHANGHAI = ZoneInfo("Asia/Shanghai")
TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)
DEFAULT_TAXONOMY_RAW: dict[str, Any] = yaml.safe_load(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))
SAMPLE_ZONES = MODELS_DIR / "zones" / "sample-zones.geojson"
SAMPLE_PERMITS = MODELS_DIR / "zones" / "sample-permits.csv"
EVIDENCE = encode_jpeg(np.full((8, 8, 3), 128, dtype=np.uint8))
WGS84 = Geod(ellps="WGS84")

# Reference points in the sample zones (lat, lon); see models/zones/sample-zones.geojson.
BUS_STOP_CENTRE = (31.23040, 121.47370)       # 8.9 m inside "Bus stop, Renmin Rd" (18 m deep)
NO_VENDING_POINT = (31.23040, 121.47470)       # 22 m inside the no-vending pavement
MARKET_CENTRE = (31.23040, 121.47570)          # inside the night market (07-10, 17-21)
OPEN_STREET = (31.23100, 121.47300)            # in grid cell 0101, no other zone


def local_utc(year: int, month: int, day: int, hour: int, minute: int, tz: ZoneInfo = SHANGHAI) -> float:
    """UTC epoch seconds of a local wall-clock time."""
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


def moved(point: tuple[float, float], north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
    """A point offset along the WGS84 ellipsoid (pyproj's geodesic, independent of the code under test)."""
    lat, lon = point
    if north_m:
        lon, lat, _ = WGS84.fwd(lon, lat, 0.0 if north_m > 0 else 180.0, abs(north_m))
    if east_m:
        lon, lat, _ = WGS84.fwd(lon, lat, 90.0 if east_m > 0 else 270.0, abs(east_m))
    return lat, lon


def observation(class_name: str, at: tuple[float, float] | None = BUS_STOP_CENTRE, *,
                status: LocationStatus = LocationStatus.GEOLOCATED, time_utc: float | None = None,
                track_id: int = 1, uncertainty_m: float | None = None) -> Observation:
    """An observation of ``class_name`` seen in three frames, placed at ``at`` (None: location unknown)."""
    points = tuple(TrackPoint(frame_index=i, pts_s=10.0 + 0.2 * i, xyxy=(100.0, 200.0, 180.0, 300.0),
                              confidence=0.6 + 0.1 * i) for i in range(3))
    if at is None:
        location = Location(LocationStatus.UNKNOWN)
    elif status is LocationStatus.GEOLOCATED:
        location = Location(status, at[0], at[1], bearing_deg=90.0, range_m=6.0, uncertainty_m=uncertainty_m)
    else:
        location = Location(status, at[0], at[1])
    return Observation(track_id=track_id, class_name=class_name, confidence=0.8, points=points,
                       best=points[1], time_utc=time_utc, location=location, frame=EVIDENCE, crop=EVIDENCE)


def rectangle(south: float, west: float, north: float, east: float) -> list[list[list[float]]]:
    """Polygon coordinates ([lon, lat] rings) of a lat/lon box."""
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


def feature(properties: dict[str, Any], coordinates: Any = None, *, geometry: Any = "polygon",
            **members: Any) -> dict[str, Any]:
    """A GeoJSON Feature; a small box near Renmin Rd unless coordinates or a geometry are given."""
    if geometry == "polygon":
        geometry = {"type": "Polygon",
                    "coordinates": coordinates or rectangle(31.2300, 121.4730, 31.2302, 121.4733)}
    return {"type": "Feature", "properties": properties, "geometry": geometry, **members}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path
