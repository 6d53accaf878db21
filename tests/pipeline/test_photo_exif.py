"""EXIF position, direction, time and field of view, read back from JPEGs the test writes with Pillow;
photo recognition by extension and content."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from streetwatch.pipeline.photo_exif import PhotoExif, read_exif
from streetwatch.pipeline.photo_ingest import PhotoInfo, is_photo, probe_photo
from tests.pipeline.photo_helpers import PHOTO_LATLON, TAKEN_UTC, exif_block, write_photo

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def read_back(tmp_path: Path, exif: Image.Exif) -> PhotoExif:
    path = tmp_path / "p.jpg"
    Image.new("RGB", (64, 48), (90, 120, 150)).save(path, "JPEG", exif=exif.tobytes())
    with Image.open(path) as image:
        return read_exif(image, SHANGHAI)


CASES = [
    # (what, EXIF written, fields expected)
    ("position, true direction, time with offset",
     exif_block(*PHOTO_LATLON, heading=90.0),
     {"heading_deg": 90.0, "heading_ref": "T", "time_utc": TAKEN_UTC.timestamp(), "time_source": "exif_offset"}),
    ("southern and western hemispheres are negative",
     exif_block(-33.8568, -151.2153, heading=359.5, heading_ref="M"),
     {"lat": -33.8568, "lon": -151.2153, "heading_deg": 359.5, "heading_ref": "M"}),
    ("no offset: the GPS time stamp",
     exif_block(*PHOTO_LATLON, offset=None, gps_time=TAKEN_UTC + dt.timedelta(seconds=3)),
     {"time_utc": TAKEN_UTC.timestamp() + 3, "time_source": "gps"}),
    ("no offset, no GPS time: the local zone",
     exif_block(*PHOTO_LATLON, offset=None),
     {"time_utc": TAKEN_UTC.timestamp(), "time_source": "exif_local"}),
    ("a -05:00 offset",
     exif_block(*PHOTO_LATLON, taken="2026:11:01 20:30:00", offset="-05:00"),
     {"time_utc": TAKEN_UTC.timestamp(), "time_source": "exif_offset"}),
    ("no time at all",
     exif_block(*PHOTO_LATLON, taken=None, offset=None),
     {"time_utc": None, "time_source": None}),
    ("an impossible date is no time",
     exif_block(*PHOTO_LATLON, taken="2026:13:45 25:00:00"),
     {"time_utc": None, "time_source": None}),
    ("(0, 0) is a receiver without a fix, not a place",
     exif_block(0.0, 0.0, heading=90.0),
     {"lat": None, "lon": None, "heading_deg": None}),
    ("a direction past 360 is dropped",
     exif_block(*PHOTO_LATLON, heading=400.0),
     {"heading_deg": None}),
    ("26 mm equivalent: 69 degrees across",
     exif_block(*PHOTO_LATLON, focal_35mm=26, gps_error_m=4.5),
     {"hfov_deg": math.degrees(2 * math.atan(18 / 26)), "gps_error_m": 4.5}),
    ("no position: no direction either",
     exif_block(heading=90.0),
     {"lat": None, "lon": None, "heading_deg": None}),
]


@pytest.mark.parametrize(("what", "exif", "expected"), CASES, ids=[c[0] for c in CASES])
def test_exif_is_read_as_written(tmp_path: Path, what: str, exif: Image.Exif, expected: dict[str, object]) -> None:
    found = read_back(tmp_path, exif)
    expected = {"lat": PHOTO_LATLON[0], "lon": PHOTO_LATLON[1]} | expected
    for name, value in expected.items():
        got = getattr(found, name)
        if isinstance(value, float):
            assert got == pytest.approx(value, abs=1e-5), (what, name)
        else:
            assert got == value, (what, name)


def test_broken_gps_values_leave_the_position_out(tmp_path: Path) -> None:
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[1], gps[2], gps[3], gps[4] = "X", (31.0, 13.0, 49.0), "E", (121.0, 28.0, 25.0)   # no N/S
    assert read_back(tmp_path, exif).lat is None
    gps[1], gps[2] = "N", (95.0, 0.0, 0.0)   # past the pole
    assert read_back(tmp_path, exif).has_position is False


def test_orientation_is_applied_and_the_picture_is_bgr(tmp_path: Path) -> None:
    exif = exif_block(*PHOTO_LATLON)
    exif[0x0112] = 6   # stored sideways: turn 90 degrees clockwise to show it
    path = tmp_path / "sideways.jpg"
    Image.new("RGB", (80, 40), (250, 10, 10)).save(path, "JPEG", exif=exif.tobytes(), quality=95)
    info = probe_photo(path, SHANGHAI)
    assert isinstance(info, PhotoInfo), info
    assert (info.width, info.height, info.rotation, info.format) == (40, 80, 90, "jpeg")
    assert info.image.shape == (80, 40, 3)
    blue, _green, red = (int(v) for v in info.image[40, 20])
    assert red > 200 and blue < 60   # BGR, as decoded video frames


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("IMG_0001.JPG", b"", True),                   # by extension, whatever it holds (then rejected if bad)
    ("hotline.heic", b"", True),
    ("upload.bin", b"\xff\xd8\xff\xe0\x00\x10JFIF", True),   # no known extension: by content
    ("upload", b"\x89PNG\r\n\x1a\n\x00\x00", True),
    ("picture.mp4", b"\x89PNG\r\n\x1a\n\x00\x00", False),     # named as a video: a video (rejected as such)
    ("notes.txt", b"hello", False),
])
def test_photos_are_recognised_by_extension_and_content(tmp_path: Path, name: str, content: bytes,
                                                        expected: bool) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert is_photo(path) is expected


def test_a_large_photo_is_analysed_at_1920_pixels(tmp_path: Path) -> None:
    path = write_photo(tmp_path / "big.jpg", exif_block(*PHOTO_LATLON))
    with Image.open(path) as small:
        small.resize((4032, 3024)).save(path, "JPEG", exif=exif_block(*PHOTO_LATLON).tobytes())
    info = probe_photo(path, SHANGHAI)
    assert isinstance(info, PhotoInfo), info
    assert (info.width, info.height) == (4032, 3024)
    assert info.image.shape == (1440, 1920, 3)
