"""The numbers a city may tune in its rules; nested in the settings as ``rules``."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streetwatch.core.zones import DEFAULT_TIMEZONE, check_timezone


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

    @field_validator("parking_overstay_minutes", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        # environment variables are strings: let "off" / "none" / "null" turn the check off
        if isinstance(value, str) and value.strip().lower() in ("off", "none", "null", ""):
            return None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        check_timezone(value)
        return value

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
