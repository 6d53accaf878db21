"""SRT GPS: the cue forms of DJI cameras and Chinese dashcams, local time, embedded streams."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from streetwatch.pipeline.gps.errors import GpsFormatError, SkipReason
from streetwatch.pipeline.gps.srt import parse_srt_cues, read_srt, read_srt_stream
from streetwatch.pipeline.gps.timing import parse_timezone
from tests.pipeline.gps.media_builders import plain_video, video_with_subtitles

CST = parse_timezone("+08:00")


def utc(*parts: int, micro: int = 0) -> float:
    return dt.datetime(*parts, micro, tzinfo=dt.UTC).timestamp()


def srt(*cues: str, start_s: int = 0) -> str:
    """SRT text with one-second cues holding ``cues``."""
    blocks = []
    for index, text in enumerate(cues):
        begin = start_s + index
        blocks.append(f"{index + 1}\n00:00:{begin:02d},000 --> 00:00:{begin + 1:02d},000\n{text}\n")
    return "\n".join(blocks)


DJI_MINI = (
    '<font size="28">FrameCnt: 1, DiffTime: 33ms\n2023-05-01 12:00:00.500\n'
    "[iso: 100] [shutter: 1/640.0] [fnum: 2.8] [ev: 0] [ct: 5500] [focal_len: 24.00] "
    "[latitude: 22.543210] [longitude: 113.987654] [rel_alt: 1.200 abs_alt: 18.567] </font>"
)
DJI_AIR2 = "2023-05-01 12:00:00,500,123\n[latitude : -33.8688] [longtitude : 151.2093] [altitude: 40.5]"
DJI_P4 = (
    "HOME(113.9876,22.5432) 2023.05.01 12:00:00\nGPS(113.9877,22.5433,16) BAROMETER:1.2\nISO:100 Shutter:60"
)
DJI_P4P = "HOME(113.9876,22.5432) 2023.05.01 12:00:00\nGPS(113.9877,22.5433,18.5M) BAROMETER:1.2"
DASHCAM = "2023/05/01 12:00:00 N22.5432 E113.9876 45km/h"
DASHCAM_COLONS = "2023-05-01 12:00:00  S:33.8688 W:70.6693  36 KM/H  速度"


@pytest.mark.parametrize(
    ("text", "t", "lat", "lon", "alt", "speed", "satellites"),
    [
        (DJI_MINI, utc(2023, 5, 1, 4, 0, 0, micro=500_000), 22.543210, 113.987654, 18.567, None, None),
        (DJI_AIR2, utc(2023, 5, 1, 4, 0, 0, micro=500_000), -33.8688, 151.2093, 40.5, None, None),
        (DJI_P4, utc(2023, 5, 1, 4, 0, 0), 22.5433, 113.9877, None, None, 16),
        (DJI_P4P, utc(2023, 5, 1, 4, 0, 0), 22.5433, 113.9877, 18.5, None, None),
        (DASHCAM, utc(2023, 5, 1, 4, 0, 0), 22.5432, 113.9876, None, 12.5, None),
        (DASHCAM_COLONS, utc(2023, 5, 1, 4, 0, 0), -33.8688, -70.6693, None, 10.0, None),
    ],
    ids=["dji-mini", "dji-air2-longtitude", "dji-p4-satellites", "dji-p4p-altitude", "dashcam", "dashcam-sw"],
)
def test_cue_forms(
    tmp_path: Path,
    text: str,
    t: float,
    lat: float,
    lon: float,
    alt: float | None,
    speed: float | None,
    satellites: int | None,
) -> None:
    path = tmp_path / "clip.srt"
    path.write_text(srt(text), encoding="utf-8")
    reading = read_srt(path, CST)
    (fix,) = reading.report.fixes
    assert fix.t == pytest.approx(t)
    assert (fix.lat, fix.lon) == pytest.approx((lat, lon))
    assert fix.alt == (pytest.approx(alt) if alt is not None else None)
    assert fix.speed == (pytest.approx(speed) if speed is not None else None)
    assert fix.satellites == satellites
    assert reading.local_clock and len(reading.anchors) == 1


def test_video_clock_places_fixes_and_median_absorbs_a_late_stamp(tmp_path: Path) -> None:
    # cue starts 0, 1, 2, 3 s; the third cue's clock stamp is 5 s late (a dashcam writing late)
    texts = [f"2023/05/01 12:00:{s:02d} N22.54{i} E113.98{i} 30km/h" for i, s in enumerate((10, 11, 17, 13))]
    path = tmp_path / "clip.SRT"
    path.write_text(srt(*texts), encoding="utf-8")
    reading = read_srt(path, CST)
    start = utc(2023, 5, 1, 4, 0, 10)
    assert [fix.t for fix in reading.report.fixes] == [start, start + 1, start + 2, start + 3]
    assert [a.video_s for a in reading.anchors] == [0.0, 1.0, 2.0, 3.0]
    assert reading.anchors[2].utc == start + 7  # the raw stamp is kept as evidence


@pytest.mark.parametrize(
    ("zone", "hour_utc"), [("+08:00", 4), ("UTC", 12), ("-03:30", 15), ("Asia/Shanghai", 4)]
)
def test_local_time_uses_the_configured_zone(tmp_path: Path, zone: str, hour_utc: int) -> None:
    path = tmp_path / "clip.srt"
    path.write_text(srt(DASHCAM), encoding="utf-8")
    (fix,) = read_srt(path, parse_timezone(zone)).report.fixes
    minutes = 30 if zone == "-03:30" else 0
    assert fix.t == utc(2023, 5, 1, hour_utc, minutes, 0)


def test_bad_cues_are_skipped_and_counted(tmp_path: Path) -> None:
    texts = [
        DASHCAM,
        "2023/05/01 12:00:01 GPS: searching...",  # no position
        "2023/13/01 12:00:02 N22.5432 E113.9876 45km/h",  # month 13
        "[latitude: 95.0] [longitude: 113.9]",  # out of range
        "",  # an empty cue clears the screen: not counted
        "2023/05/01 12:00:05 N0.0000 E0.0000 0km/h",  # before a lock: kept, the gate drops it
    ]
    path = tmp_path / "clip.srt"
    path.write_text(srt(*texts), encoding="utf-8")
    report = read_srt(path, CST).report
    assert report.skipped == {SkipReason.MALFORMED: 3}
    assert [(f.lat, f.lon) for f in report.fixes] == [(22.5432, 113.9876), (0.0, 0.0)]
    assert any("no position" in e for e in report.examples)
    assert any("bad date/time '2023/13/01 12:00:02'" in e for e in report.examples)
    assert any("latitude 95.0 outside" in e for e in report.examples)


def test_undated_cues_take_the_fallback_or_fail(tmp_path: Path) -> None:
    path = tmp_path / "clip.srt"
    path.write_text(srt("GPS(113.9877,22.5433,16)", "GPS(113.9878,22.5434,16)"), encoding="utf-8")
    with pytest.raises(GpsFormatError, match="no date/time, and no fallback start is known"):
        read_srt(path, CST)
    start = utc(2023, 5, 1, 4, 0, 0)
    reading = read_srt(path, CST, fallback_start_utc=lambda: start)
    assert [f.t for f in reading.report.fixes] == [start, start + 1]
    assert not reading.local_clock and [a.utc for a in reading.anchors] == [start, start + 1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no SRT cues"),
        (b"just a note\n", "no SRT cues"),
        (srt("hello world", "second line").encode(), "no cue holds a position in a supported form"),
        (srt("N22\xb032.592' E113\xb059.256'").encode(), "no cue holds a position"),  # degrees-minutes
        (None, "cannot read file"),
    ],
)
def test_clear_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "clip.srt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(GpsFormatError, match=message) as caught:
        read_srt(path, CST)
    assert caught.value.path == str(path)


@pytest.mark.parametrize(
    ("encoding", "prefix"), [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("gb18030", b""), ("utf-16", b"")]
)
def test_text_encodings(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    path = tmp_path / "clip.srt"
    path.write_bytes(prefix + srt("2023/05/01 12:00:00 N22.5432 E113.9876 45km/h 速度").encode(encoding))
    assert len(read_srt(path, CST).report.fixes) == 1


def test_cue_parsing_tolerates_crlf_dots_and_missing_numbers() -> None:
    text = "00:00:01.250 --> 00:00:02.000\r\nN22.1 E113.1\r\n\r\n7\r\n00:01:02,5 --> 00:01:03,0\r\nline\r\n"
    cues = parse_srt_cues(text)
    assert [(c.start_s, c.end_s, c.text, c.line) for c in cues] == [
        (1.25, 2.0, "N22.1 E113.1", 1),
        (62.5, 63.0, "line", 5),
    ]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_embedded_subtitle_stream(tmp_path: Path, suffix: str) -> None:
    cues = [(float(s), s + 1.0, f"2023/05/01 12:00:0{s} N22.543{s} E113.987{s} 36km/h") for s in range(3)]
    video = video_with_subtitles(tmp_path / f"clip{suffix}", cues)
    reading = read_srt_stream(video, CST)
    assert reading is not None
    start = utc(2023, 5, 1, 4, 0, 0)
    assert [f.t for f in reading.report.fixes] == pytest.approx([start, start + 1, start + 2])
    assert [f.lat for f in reading.report.fixes] == pytest.approx([22.5430, 22.5431, 22.5432])
    assert [a.video_s for a in reading.anchors] == pytest.approx([0.0, 1.0, 2.0])
    assert reading.report.path.startswith(str(video))


def test_embedded_stream_without_dates_uses_creation_time(tmp_path: Path) -> None:
    cues = [(0.5, 1.5, "GPS(113.9877,22.5433,16)"), (1.5, 2.5, "GPS(113.9878,22.5434,16)")]
    video = video_with_subtitles(tmp_path / "clip.mp4", cues, creation_time="2023-05-01T04:00:00.000000Z")
    reading = read_srt_stream(video, CST)
    assert reading is not None
    start = utc(2023, 5, 1, 4, 0, 0)
    assert [f.t for f in reading.report.fixes] == pytest.approx([start + 0.5, start + 1.5])


@pytest.mark.parametrize(
    "make",
    [
        lambda p: video_with_subtitles(p / "movie.mp4", [(0.0, 2.0, "Hello there"), (2.0, 3.0, "General")]),
        lambda p: plain_video(p / "plain.mp4"),
        lambda p: (p / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42") and p / "broken.mp4",
    ],
    ids=["ordinary-subtitles", "no-subtitles", "unopenable"],
)
def test_embedded_stream_absent(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    assert read_srt_stream(make(tmp_path), CST) is None
