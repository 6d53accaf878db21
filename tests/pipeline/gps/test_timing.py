"""Time alignment: verified from anchors, configured, unverified; time zone settings."""

from __future__ import annotations

import datetime as dt

import pytest

from streetwatch.core.types import GpsFix
from streetwatch.pipeline.gps.errors import SkipCounter
from streetwatch.pipeline.gps.timing import (
    ClockAnchor,
    TimeAlignment,
    anchored_reading,
    estimate_offset,
    parse_timezone,
)

T0 = 1_682_913_600.0


@pytest.mark.parametrize(
    ("anchors", "track_start", "configured", "expected"),
    [
        (
            [ClockAnchor(0.0, T0 + 5), ClockAnchor(1.0, T0 + 6), ClockAnchor(2.0, T0 + 9)],
            T0 + 4,
            None,
            (T0 + 5, 1.0, "verified"),
        ),  # the median ignores the late third stamp
        ([ClockAnchor(0.5, T0 + 5.5)], None, 3.0, (T0 + 5, 0.0, "verified")),  # anchors beat configuration
        ([], T0, 2.5, (T0 + 2.5, 2.5, "configured")),
        ([], T0, -1.0, (T0 - 1.0, -1.0, "configured")),
        ([], T0, 0.0, (T0, 0.0, "configured")),  # zero configured on purpose is still configured
        ([], T0, None, (T0, 0.0, "unverified")),
    ],
    ids=["anchors", "anchors-no-track", "configured", "configured-negative", "configured-zero", "unverified"],
)
def test_estimate_offset(
    anchors: list[ClockAnchor],
    track_start: float | None,
    configured: float | None,
    expected: tuple[float, float, str],
) -> None:
    alignment = estimate_offset(anchors, track_start, configured)
    assert (alignment.start_utc, alignment.offset_s, alignment.status) == expected
    assert alignment.detail


def test_anchor_spread_is_reported() -> None:
    alignment = estimate_offset([ClockAnchor(0.0, T0), ClockAnchor(1.0, T0 + 1.25)], T0, None)
    assert "2 video/GPS time pair(s)" in alignment.detail and "spread 0.250 s" in alignment.detail


@pytest.mark.parametrize(
    ("anchors", "track_start", "configured", "message"),
    [
        ([], None, None, "cannot align a video without clock anchors or any GPS fix"),
        ([], None, 5.0, "cannot align"),
        ([], T0, float("nan"), "configured_offset_s must be finite"),
        ([ClockAnchor(0.0, float("inf"))], T0, None, "finite"),
    ],
)
def test_estimate_offset_errors(
    anchors: list[ClockAnchor], track_start: float | None, configured: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_offset(anchors, track_start, configured)


def test_alignment_rejects_non_finite_values() -> None:
    with pytest.raises(ValueError, match="must be finite"):
        TimeAlignment(float("nan"), 0.0, "unverified")


def test_anchored_reading_moves_fixes_onto_the_video_clock() -> None:
    pairs = [
        (GpsFix(T0 + 10, 22.5, 113.9), 0.0),
        (GpsFix(T0 + 11, 22.5, 113.9), 1.0),
        (GpsFix(T0 + 13, 22.5, 113.9), 2.0),
    ]  # the last stamp is a second late
    reading = anchored_reading("x", pairs, SkipCounter(), local_clock=True)
    assert [f.t for f in reading.report.fixes] == [T0 + 10, T0 + 11, T0 + 12]
    assert [a.utc for a in reading.anchors] == [T0 + 10, T0 + 11, T0 + 13]
    assert anchored_reading("x", [], SkipCounter(), local_clock=False).report.fixes == ()


@pytest.mark.parametrize(
    ("text", "offset_h"),
    [
        ("+08:00", 8.0),
        ("UTC+8", 8.0),
        ("-0330", -3.5),
        ("GMT-03:30", -3.5),
        ("UTC", 0.0),
        ("z", 0.0),
        ("Asia/Shanghai", 8.0),
        ("  +05:45 ", 5.75),
    ],
)
def test_parse_timezone(text: str, offset_h: float) -> None:
    zone = parse_timezone(text)
    offset = dt.datetime(2023, 5, 1, 12, tzinfo=zone).utcoffset()
    assert offset is not None and offset.total_seconds() / 3600 == offset_h


def test_named_zone_follows_daylight_saving() -> None:
    zone = parse_timezone("Europe/Warsaw")
    winter, summer = (dt.datetime(2023, m, 1, 12, tzinfo=zone).utcoffset() for m in (1, 7))
    assert (winter, summer) == (dt.timedelta(hours=1), dt.timedelta(hours=2))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("+15:00", "out of range"),
        ("+08:60", "out of range"),
        ("Mars/Olympus", "unknown time zone"),
        ("", "unknown time zone"),
        ("8", "unknown time zone"),
    ],
)
def test_parse_timezone_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_timezone(text)
