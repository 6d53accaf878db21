"""probe_video on real files: good clips in every container, and every kind of broken file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from streetwatch.pipeline.ingest import IngestError, VideoInfo, probe_video, sha256_file, sniff_signature
from tests.video_fixtures import BAD_FILE_KINDS, broken_files, make_bad_file, make_clip, synthetic

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
HAS_X265 = "libx265" in synthetic.available_encoders()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("bad_videos")
    return {kind: make_bad_file(kind, directory) for kind in BAD_FILE_KINDS}


@pytest.mark.parametrize(
    ("kind", "reason", "message_parts"),
    [
        ("zero_byte", "empty", ["zero bytes"]),
        ("missing", "not_found", ["no such file"]),
        ("random_bytes", "not_video", ["random bytes", "no known container signature"]),
        ("text_as_mp4", "not_video", ["not a video", "text file", "REC start"]),
        ("png_as_mp4", "not_video", ["not a video", "PNG image"]),
        ("truncated_mp4", "truncated", ["truncated MP4", "no 'moov' atom", "inside 'mdat'", "cut off"]),
        ("audio_only", "no_video_stream", ["no video stream", "audio aac"]),
        ("scrambled_payload", "undecodable", ["no picture could be decoded", "h264", "decoder errors"]),
    ],
)
def test_bad_file_gives_error_value(
    bad_files: dict[str, Path], kind: str, reason: str, message_parts: list[str]
) -> None:
    assert BAD_FILE_KINDS[kind][1] == reason  # the shared table agrees with this one
    result = probe_video(bad_files[kind])
    assert isinstance(result, IngestError), f"{kind}: expected an IngestError, got {result}"
    assert result.reason == reason, result.message
    assert result.path == bad_files[kind]
    for part in message_parts:
        assert part in result.message, f"{part!r} not in {result.message!r}"


def test_directory_is_not_found(tmp_path: Path) -> None:
    result = probe_video(tmp_path)
    assert isinstance(result, IngestError)
    assert (result.reason, "directory" in result.message) == ("not_found", True)


@pytest.mark.parametrize(
    ("keep_bytes", "message_part"),
    [
        ("ftyp", "file ends after 'ftyp'"),
        ("ftyp+4", "file ends after 'ftyp'"),  # a partial box header is not a box
        ("mdat+100", "file ends inside 'mdat' after 100 of its"),
    ],
)
def test_truncated_mp4_says_where_the_file_ends(tmp_path: Path, keep_bytes: str, message_part: str) -> None:
    source = make_clip(tmp_path / "full.mp4")
    data = source.read_bytes()
    box, _, extra = keep_bytes.partition("+")
    offset = data.index(box.encode()) - 4  # the box starts 4 bytes before its type
    size = int.from_bytes(data[offset : offset + 4], "big")
    cut = offset + (size if box == "ftyp" else 0) + int(extra or 0)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[:cut])
    result = probe_video(broken)
    assert isinstance(result, IngestError)
    assert result.reason == "truncated"
    assert message_part in result.message, result.message


@pytest.mark.parametrize(
    ("codec", "suffix", "container_format", "container", "codec_name"),
    [
        ("libx264", ".mp4", None, "mp4", "h264"),
        ("libx264", ".mov", None, "mov", "h264"),
        ("libx264", ".mkv", None, "matroska", "h264"),
        ("mpeg4", ".avi", None, "avi", "mpeg4"),
        ("libx264", ".ts", "mpegts", "mpegts", "h264"),
        pytest.param(
            "libx265",
            ".mp4",
            None,
            "mp4",
            "hevc",
            marks=pytest.mark.skipif(not HAS_X265, reason="PyAV's FFmpeg has no libx265 encoder"),
        ),
    ],
)
def test_good_clip_probes(
    tmp_path: Path, codec: str, suffix: str, container_format: str | None, container: str, codec_name: str
) -> None:
    path = make_clip(
        tmp_path / f"clip{suffix}", seconds=1.0, fps=30.0, codec=codec, container_format=container_format
    )
    info = probe_video(path)
    assert isinstance(info, VideoInfo), str(info)
    assert (info.container, info.codec) == (container, codec_name)
    assert (info.width, info.height, info.rotation) == (160, 96, 0)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.size_bytes == path.stat().st_size
    assert info.duration_s == pytest.approx(1.0, abs=0.07)
    assert info.avg_fps == pytest.approx(30.0, rel=0.01)
    assert abs(info.frame_count_estimate - 30) <= 2


@pytest.mark.parametrize(
    ("rotation", "width", "height"), [(0, 160, 96), (90, 96, 160), (180, 160, 96), (270, 96, 160)]
)
@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_rotation_is_read_and_dimensions_are_as_displayed(
    tmp_path: Path, suffix: str, rotation: int, width: int, height: int
) -> None:
    info = probe_video(make_clip(tmp_path / f"rotated{suffix}", seconds=0.2, rotation=rotation))
    assert isinstance(info, VideoInfo), str(info)
    assert (info.rotation, info.width, info.height) == (rotation, width, height)


def test_rotation_agrees_with_opencv(tmp_path: Path) -> None:
    """OpenCV's FFmpeg backend is an independent reader of the display matrix."""
    cv2 = pytest.importorskip("cv2")
    for rotation in (90, 180, 270):
        path = make_clip(tmp_path / f"r{rotation}.mp4", seconds=0.2, rotation=rotation)
        capture = cv2.VideoCapture(str(path))
        try:
            opencv_rotation = int(capture.get(cv2.CAP_PROP_ORIENTATION_META))
        finally:
            capture.release()
        info = probe_video(path)
        assert isinstance(info, VideoInfo)
        assert info.rotation == opencv_rotation == rotation


def test_variable_frame_rate_ts_gets_a_believable_rate(tmp_path: Path) -> None:
    # MPEG-TS states no average rate for VFR and "guesses" its 90 kHz clock; probe must not.
    pts = [0.0, 0.1, 0.15, 0.3, 0.4, 0.55, 0.6, 0.8, 0.9, 1.0]
    path = make_clip(tmp_path / "vfr.ts", pts_s=pts, container_format="mpegts")
    info = probe_video(path)
    assert isinstance(info, VideoInfo), str(info)
    assert 5.0 < info.avg_fps < 15.0
    assert 5 <= info.frame_count_estimate <= 15


@pytest.mark.parametrize("size", [0, 1, 1000, (1 << 20) - 1, 1 << 20, (3 << 20) + 17])
def test_sha256_file_matches_hashlib(tmp_path: Path, size: int) -> None:
    path = broken_files.write_random_bytes(tmp_path / "blob.bin", n=size, seed=size)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_file(path) == expected
    assert sha256_file(path, chunk_bytes=4096) == expected


@pytest.mark.parametrize(
    ("head", "kind", "name"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video", "mov"),
        (b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat", "video", "mov"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "video", "matroska"),
        (b"RIFF\x00\x10\x00\x00AVI LIST", "video", "avi"),
        (b"RIFF\x00\x10\x00\x00WAVEfmt ", "other", "a WAV audio file"),
        ((b"\x47" + bytes(187)) * 3, "video", "mpegts"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "other", "a PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "other", "a JPEG image"),
        (b"%PDF-1.7\n", "other", "a PDF document"),
        (b"ID3\x04\x00\x00\x00", "other", "an MP3 audio file"),
        ("日志 camera log\n".encode(), "text", "a text file"),
        (bytes(range(256)) * 4, "unknown", "random bytes"),
        (b"\x01\x02" * 300, "unknown", "unrecognised data"),
    ],
)
def test_sniff_signature(head: bytes, kind: str, name: str) -> None:
    signature = sniff_signature(head)
    assert (signature.kind, signature.name) == (kind, name)


def test_error_value_reads_well() -> None:
    error = IngestError(Path("/footage/a.mp4"), "empty", "zero bytes")
    assert str(error) == "/footage/a.mp4: empty: zero bytes"


@pytest.mark.shared_data
def test_stripped_dashcam_shells_never_raise() -> None:
    samples = sorted((SHARED_DATA / "dashcam_70mai" / "samples").glob("*.[Mm][Pp]4"))
    if not samples:
        pytest.skip(f"no 70mai samples under {SHARED_DATA}")
    results = [probe_video(path) for path in samples]  # a raise here fails the test
    assert all(isinstance(r, IngestError | VideoInfo) for r in results)
    reasons = {r.reason for r in results if isinstance(r, IngestError)}
    assert {"truncated", "no_video_stream", "not_video"} <= reasons
    for info in (r for r in results if isinstance(r, VideoInfo)):  # the shells' one real clip
        assert info.width > 0 and info.height > 0
        assert info.sha256 == hashlib.sha256(info.path.read_bytes()).hexdigest()
