"""70mai ``GPS `` boxes: record layout, damaged records, clip start from the file name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from streetwatch.pipeline.gps.dashcam_boxes import clip_start_local, read_70mai_gps, top_level_boxes
from streetwatch.pipeline.gps.errors import SkipReason
from streetwatch.pipeline.gps.timing import parse_timezone
from tests.pipeline.gps.media_builders import SHARED_DATA, mai_clip, mai_record, plain_video

CST = parse_timezone("+08:00")
NAME = "NO20230501-120000-000001.MP4"
START = dt.datetime(2023, 5, 1, 4, 0, 0, tzinfo=dt.UTC).timestamp()  # 12:00:00 at UTC+08:00
LAT, LON = 22 + 32.592 / 60, 113 + 59.256 / 60
SAMPLES = SHARED_DATA / "dashcam_70mai" / "samples"


def test_records_decode_to_fixes_on_the_video_clock(tmp_path: Path) -> None:
    clip = mai_clip(
        tmp_path / NAME, [mai_record(0), mai_record(1, lat_value=2232600), mai_record(2, "S", lon="W")]
    )
    reading = read_70mai_gps(clip, CST)
    assert reading is not None
    fixes = reading.report.fixes
    assert [f.t for f in fixes] == [START, START + 1, START + 2]
    assert (fixes[0].lat, fixes[0].lon, fixes[0].speed) == pytest.approx((LAT, LON, 10.0))
    assert fixes[1].lat == pytest.approx(22 + 32.6 / 60)
    assert (fixes[2].lat, fixes[2].lon) == pytest.approx((-LAT, -LON))
    assert [a.video_s for a in reading.anchors] == [0.0, 1.0, 2.0]
    assert reading.local_clock and reading.report.skipped == {}


@pytest.mark.parametrize(
    ("bad", "reason", "detail"),
    [
        (mai_record(1, fix=0), SkipReason.VOID_FIX, "no fix that second"),
        (mai_record(1, present=7), SkipReason.MALFORMED, "flags 7, 1"),
        (mai_record(1, fix=5), SkipReason.MALFORMED, "flags 1, 5"),
        (mai_record(1, "O"), SkipReason.MALFORMED, "hemisphere b'O'"),
        (mai_record(1, lon="N"), SkipReason.MALFORMED, "hemisphere b'N', expected b'E' or b'W'"),
        (mai_record(1, lat_value=2261000), SkipReason.MALFORMED, "not DDMM.mmm"),  # 61 minutes
        (mai_record(1, lat_value=9100000), SkipReason.MALFORMED, "within 90 degrees"),
        (mai_record(16_777_216), SkipReason.MALFORMED, "clip second 16777216"),
    ],
)
def test_damaged_records_are_skipped(tmp_path: Path, bad: bytes, reason: SkipReason, detail: str) -> None:
    reading = read_70mai_gps(mai_clip(tmp_path / NAME, [mai_record(0), bad, mai_record(2)]), CST)
    assert reading is not None
    assert [f.t for f in reading.report.fixes] == [START, START + 2]
    assert reading.report.skipped == {reason: 1}
    assert detail in reading.report.examples[0] and reading.report.examples[0].startswith("record 2")


def test_records_end_at_the_first_empty_one(tmp_path: Path) -> None:
    records = [mai_record(0), mai_record(1, present=0), mai_record(2)]
    reading = read_70mai_gps(mai_clip(tmp_path / NAME, records), CST)
    assert reading is not None and len(reading.report.fixes) == 1 and reading.report.skipped == {}


def test_cut_off_box(tmp_path: Path) -> None:
    clip = mai_clip(tmp_path / NAME, [mai_record(0), mai_record(1)], padding_records=0, cut=10)
    reading = read_70mai_gps(clip, CST)
    assert reading is not None
    assert len(reading.report.fixes) == 1
    assert reading.report.skipped == {SkipReason.MALFORMED: 1}
    assert "cut off after 26 bytes" in reading.report.examples[0]


def test_file_name_without_start_time_makes_records_undated(tmp_path: Path) -> None:
    reading = read_70mai_gps(mai_clip(tmp_path / "clip.mp4", [mai_record(0), mai_record(1)]), CST)
    assert reading is not None
    assert reading.report.fixes == () and reading.report.skipped == {SkipReason.NO_DATE: 2}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NO20191130-120156-000121.MP4", dt.datetime(2019, 11, 30, 12, 1, 56)),
        ("ev20230501-235959-000002.mp4", dt.datetime(2023, 5, 1, 23, 59, 59)),
        ("NO20231301-120000-000001.MP4", None),  # month 13
        ("box.mp4", None),
    ],
)
def test_clip_start_from_file_name(name: str, expected: dt.datetime | None) -> None:
    assert clip_start_local(name) == expected


def test_file_without_gps_box_is_none(tmp_path: Path) -> None:
    assert read_70mai_gps(plain_video(tmp_path / NAME), CST) is None
    assert read_70mai_gps(tmp_path / "absent.MP4", CST) is None


def test_top_level_boxes_stop_at_garbage(tmp_path: Path) -> None:
    clip = mai_clip(tmp_path / NAME, [mai_record(0)])
    clip.write_bytes(clip.read_bytes() + b"\xff" * 12)
    assert [box.type for box in top_level_boxes(clip)] == ["ftyp", "moov", "GPS "]


@pytest.mark.shared_data
def test_shared_70mai_clip() -> None:
    clip = SAMPLES / "NO20191130-120156-000121.MP4"
    if not clip.is_file():
        pytest.skip(f"shared fixture {clip} is absent")
    reading = read_70mai_gps(clip, parse_timezone("+01:00"))  # recorded in Poland, CET
    assert reading is not None
    fixes = reading.report.fixes
    assert len(fixes) == 61 and reading.report.skipped == {}
    assert fixes[0].t == dt.datetime(2019, 11, 30, 11, 1, 56, tzinfo=dt.UTC).timestamp()
    assert (fixes[0].lat, fixes[0].lon) == pytest.approx((52 + 11.435 / 60, 20 + 47.369 / 60))
    assert fixes[0].speed == pytest.approx(105.330 / 3.6)
    assert fixes[-1].t - fixes[0].t == 60


@pytest.mark.shared_data
def test_shared_70mai_shells_never_raise() -> None:
    clips = sorted(SAMPLES.glob("*.[Mm][Pp]4"))
    if not clips:
        pytest.skip(f"no 70mai samples under {SAMPLES}")
    readings = [read_70mai_gps(clip, CST) for clip in clips]  # a raise fails the test
    with_fixes = [r for r in readings if r is not None and r.report.fixes]
    damaged = [r for r in readings if r is not None and r.report.skipped.get(SkipReason.MALFORMED)]
    assert len(with_fixes) >= 5 and len(damaged) >= 5 and None in readings
