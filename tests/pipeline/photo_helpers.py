"""Helpers for the photo tests: real street photos re-saved with the EXIF the test writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PIL import ExifTags, Image

from streetwatch.datasets.demo import demo_image_path

# Ultralytics' bus.jpg (a real street: a bus, people), shipped in its wheel: always there.
STREET_PHOTO = demo_image_path()
SHARED_PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "street_clips" / "photos"
PHOTO_LATLON = (31.2304, 121.4737)
TAKEN_LOCAL = "2026:11:02 09:30:00"     # +08:00: 01:30 UTC
TAKEN_UTC = datetime(2026, 11, 2, 1, 30, 0, tzinfo=UTC)


def dms(value: float) -> tuple[float, float, float]:
    """Degrees as EXIF's (degrees, minutes, seconds)."""
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def exif_block(lat: float | None = None, lon: float | None = None, *, heading: float | None = None,
               heading_ref: str = "T", taken: str | None = TAKEN_LOCAL, offset: str | None = "+08:00",
               gps_time: datetime | None = None, focal_35mm: int | None = None,
               gps_error_m: float | None = None) -> Image.Exif:
    """An EXIF block with what is given: GPS position, lens direction, times, focal length."""
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    if lat is not None and lon is not None:
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), dms(lat)
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), dms(lon)
    if heading is not None:
        gps[16], gps[17] = heading_ref, float(heading)
    if gps_time is not None:
        gps[29] = gps_time.strftime("%Y:%m:%d")
        gps[7] = (float(gps_time.hour), float(gps_time.minute), float(gps_time.second))
    if gps_error_m is not None:
        gps[31] = float(gps_error_m)
    main = exif.get_ifd(ExifTags.IFD.Exif)
    if taken is not None:
        main[36867] = taken
    if offset is not None:
        main[36881] = offset
    if focal_35mm is not None:
        main[41989] = focal_35mm
    return exif


def write_photo(destination: Path, exif: Image.Exif | None, source: Path = STREET_PHOTO,
                image_format: str = "JPEG", scale: float = 1.0) -> Path:
    """Save ``source`` as ``destination`` (JPEG, HEIF or PNG) with ``exif`` (None: no EXIF at all),
    ``scale`` times its size (HEIC encoding is slow: tests write small ones)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if image_format == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    with Image.open(source) as image:
        rgb = image.convert("RGB")
        if scale != 1.0:
            rgb = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS)
        if exif is None:
            rgb.save(destination, image_format)
        else:
            rgb.save(destination, image_format, exif=exif.tobytes())
    return destination
