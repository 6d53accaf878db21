"""The numbers a city may tune in its rules; nested in the settings as ``rules``."""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streetwatch.core.zones import DEFAULT_TIMEZONE, check_timezone


def off_is_none(value: object) -> object:
    """An environment variable cannot be None: "off", "none", "null" or "" turn a setting off."""
    if isinstance(value, str) and value.strip().lower() in ("off", "none", "null", ""):
        return None
    return value

# Without a city's zones or permits a parked car, a shop sign or an umbrella is only a candidate
# (basis "unverified", priority <= 0.35): it stays out of the queue. Garbage is a problem wherever
# it lies (basis "class"): a confident sighting enters.
DEFAULT_QUEUE_THRESHOLDS: Final[dict[str, float]] = {"parking": 0.5, "stall": 0.5, "garbage": 0.3, "ads": 0.5}
DEFAULT_QUEUE_THRESHOLD: Final = 0.5


class RuleParams(BaseModel):
    """Numbers a city may tune; nested in the settings as ``rules`` (``STREETWATCH_RULES__<NAME>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(DEFAULT_TIMEZONE, description="IANA time zone of local times in reasons.")
    parking_overstay_radius_m: float = Field(5.0, gt=0, le=100, description="Same spot: this close.")
    parking_overstay_minutes: float | None = Field(
        30.0, gt=0, description="A vehicle at the same spot this long after an earlier sighting "
        "overstays; None (or \"off\") turns the overstay check off.")
    parking_overstay_window_h: float = Field(
        12.0, gt=0, description="Earlier sightings older than this belong to another parking event.")
    stall_support_radius_m: float = Field(
        10.0, gt=0, description="People, chairs, tables this close support a stall sighting.")
    stall_min_support: int = Field(
        0, ge=0, description="Supporting objects a stall sighting needs to be filed (0: none needed; "
        "1+ drops e.g. an umbrella carried alone in the rain).")
    garbage_full_level: float = Field(0.8, gt=0, le=1, description="A bin this full (0..1) is full.")
    ads_match_radius_m: float = Field(
        15.0, gt=0, description="A licence this close, of a compatible class, covers an ad object.")
    queue_thresholds: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_QUEUE_THRESHOLDS),
        description="Per family, the lowest priority (0..1) that enters the review queue; weaker "
        "candidates stay observations (searchable, out of the queue). Unlisted families: 0.5.")

    @field_validator("parking_overstay_minutes", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        return off_is_none(value)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        check_timezone(value)
        return value

    @field_validator("queue_thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {family: v for family, v in value.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"queue thresholds are priorities between 0 and 1, got {bad}")
        return value

    def queue_threshold(self, family: str) -> float:
        """The lowest priority of ``family`` that enters the review queue."""
        return self.queue_thresholds.get(family, DEFAULT_QUEUE_THRESHOLD)

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
