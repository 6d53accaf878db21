"""The ``streetwatch`` command line: help, exit codes, messages, and two processes racing on one file.

Most commands run in-process with typer's CliRunner; the race runs two real ``streetwatch
process`` subprocesses against one database.
"""

from __future__ import annotations

import math
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from typer.testing import CliRunner

from streetwatch.cli.main import app
from streetwatch.core.geo import haversine_m
from streetwatch.store.db import make_engine
from streetwatch.store.models import Observation, Video
from tests.pipeline.run_helpers import (
    TRACK_SPEED_MPS,
    TRACK_START_UTC,
    fetch_rows,
    one_line,
    seconds_between,
    shared_street_clip,
    sqlite_url,
    start_cli,
    table_counts,
    write_straight_gpx,
)
from tests.video_fixtures import make_bad_file

runner = CliRunner()


@pytest.fixture(scope="module")
def street_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_street_clip(tmp_path_factory)


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, one_line(result.output)


# --- help ----------------------------------------------------------------------------------------

HELP_CASES = [
    pytest.param([], ["process", "serve", "db", "demo", "models"], id="top-level"),
    pytest.param(["--help"], ["process", "serve", "db", "demo", "models"], id="top-level-help"),
    pytest.param(["process", "--help"],
                 ["--gps", "--db", "--evidence", "--model", "--sample-fps", "--gps-offset", "--device",
                  "--progress", "sha256"], id="process"),
    pytest.param(["serve", "--help"], ["--db", "--evidence", "--host", "--port"], id="serve"),
    pytest.param(["db", "--help"], ["upgrade"], id="db"),
    pytest.param(["db", "upgrade", "--help"], ["--db", "migrations"], id="db-upgrade"),
    pytest.param(["demo", "--help"], ["--workdir", "--seconds"], id="demo"),
    pytest.param(["models", "import-tflite", "--help"], ["* tflite <path>", "* out <path>", "--metadata"],
                 id="models-import"),
    pytest.param(["dataset", "--help"], ["export", "import"], id="dataset"),
    pytest.param(["dataset", "export", "--help"], ["--since", "--out", "--db", "--evidence", "--val-share",
                                                   "manifest.csv"], id="dataset-export"),
    pytest.param(["dataset", "import", "--help"], ["* src <path>", "--format", "--out", "--licence", "aliases"],
                 id="dataset-import"),
]


@pytest.mark.parametrize(("args", "expected"), HELP_CASES)
def test_help_teaches_the_options(args: list[str], expected: list[str]) -> None:
    result = runner.invoke(app, args)
    text = one_line(result.output)
    assert result.exit_code in (0, 2), text  # no_args_is_help exits 2 under click 8.2+
    missing = [word for word in expected if word.lower() not in text.lower()]
    assert not missing, f"help for {args} lacks {missing}:\n{text}"


# --- errors before any processing ------------------------------------------------------------------

def test_a_missing_video_is_reported_and_exits_1(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "clip.mp4"
    code, output = invoke("process", str(missing), "--db", sqlite_url(tmp_path / "db.sqlite"),
                          "--evidence", str(tmp_path / "evidence"))
    assert code == 1, output
    assert f"rejected {missing}: file not found" in output


ARG_ERRORS = [
    # extra args, expected exit code, words in the message
    pytest.param(["--gps", "no-such-track.gpx"], 2, "GPS file not found: no-such-track.gpx",
                 id="missing-gps"),
    pytest.param(["--model", "no-such-weights.pt"], 2, "detector weights not found: no-such-weights.pt",
                 id="missing-weights"),
    pytest.param(["--sample-fps", "0"], 2, "sample_fps", id="zero-sample-fps"),
]


@pytest.mark.parametrize(("extra", "expected_code", "expected_words"), ARG_ERRORS)
def test_bad_arguments_fail_with_a_message(
    street_clip: Path, tmp_path: Path, extra: list[str], expected_code: int, expected_words: str
) -> None:
    result = runner.invoke(app, ["process", str(street_clip), "--db", sqlite_url(tmp_path / "db.sqlite"),
                                 "--evidence", str(tmp_path / "evidence"), *extra])
    text = one_line(result.output)
    assert result.exit_code == expected_code, f"{text} {result.exception!r}"
    assert expected_words in text, text
    assert not (tmp_path / "db.sqlite").exists()  # refused before touching the database


def test_db_upgrade_creates_the_tables(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "fresh.sqlite")
    code, output = invoke("db", "upgrade", "--db", url)
    assert code == 0, output
    assert "up to date" in output
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    expected = {"alembic_version", "videos", "evidence", "observations", "violations", "review_decisions"}
    assert expected <= tables, f"missing tables: {expected - tables}"
    assert invoke("db", "upgrade", "--db", url)[0] == 0  # idempotent


# --- processing ---------------------------------------------------------------------------------

def test_exit_code_is_0_when_all_is_well_and_1_when_anything_is_rejected(street_clip: Path, tmp_path: Path
                                                                         ) -> None:
    url = sqlite_url(tmp_path / "db.sqlite")
    common = ["--db", url, "--evidence", str(tmp_path / "evidence"), "--sample-fps", "2", "--no-progress"]

    code, output = invoke("process", str(street_clip), *common)
    assert code == 0, output
    assert re.search(r"done street\.mp4: \d+ frames, \d+ detections, [1-9]\d* objects", output), output

    bad = [make_bad_file(kind, tmp_path) for kind in ("zero_byte", "random_bytes", "truncated_mp4")]
    code, output = invoke("process", str(street_clip), *map(str, bad), *common)
    assert code == 1, output
    assert "skipped street.mp4: already processed" in output
    for path in bad:
        assert f"rejected {path.name}:" in output, output
    assert re.search(r"videos rejected/failed\W+3\b", output), output
    assert table_counts(url)["videos"] == 1

    code, output = invoke("process", str(street_clip), *common)
    assert code == 0, output  # skipping what is done is success


def test_gps_offset_shifts_time_and_place(street_clip: Path, tmp_path: Path) -> None:
    offset_s = 2.5
    gpx = write_straight_gpx(tmp_path / "long-track.gpx", seconds=12.0)

    def run(name: str, *extra: str) -> str:
        url = sqlite_url(tmp_path / f"{name}.sqlite")
        code, output = invoke("process", str(street_clip), "--gps", str(gpx), *extra, "--db", url,
                              "--evidence", str(tmp_path / "evidence"), "--sample-fps", "3", "--no-progress")
        assert code == 0, output
        return url

    url = run("shifted", "--gps-offset", str(offset_s))
    baseline = run("baseline")
    (video,) = fetch_rows(url, select(Video.gps_offset_s, Video.start_utc))
    assert video["gps_offset_s"] == offset_s
    assert seconds_between(video["start_utc"], TRACK_START_UTC + timedelta(seconds=offset_s)) < 1e-3
    columns = (Observation.track_id, Observation.best_pts_s, Observation.seen_at, Observation.location_status,
               Observation.lat, Observation.lon)
    rows = {r["track_id"]: r for r in fetch_rows(url, select(*columns))}
    before = {r["track_id"]: r for r in fetch_rows(baseline, select(*columns))}
    for row in rows.values():
        shifted = TRACK_START_UTC + timedelta(seconds=row["best_pts_s"] + offset_s)
        assert seconds_between(row["seen_at"], shifted) < 1e-3, row
    geolocated = [r for r in rows.values() if r["location_status"] == "geolocated"]
    assert geolocated, rows
    # The car drives straight east at a constant speed, so shifting the clock by offset_s moves
    # every pose, and so every object, TRACK_SPEED_MPS * offset_s further east.
    for row in geolocated:
        old = before[row["track_id"]]
        east_m = haversine_m(old["lat"], old["lon"], old["lat"], row["lon"]) * (1 if row["lon"] > old["lon"] else -1)
        north_m = haversine_m(old["lat"], old["lon"], row["lat"], old["lon"])
        assert math.isclose(east_m, TRACK_SPEED_MPS * offset_s, abs_tol=0.5), (row, old, east_m)
        assert north_m < 0.5, (row, old, north_m)


# --- two processes, one file ---------------------------------------------------------------------

def test_two_processes_racing_on_one_file_make_one_video(db_url: str, street_clip: Path, tmp_path: Path
                                                         ) -> None:
    clip = Path(shutil.copyfile(street_clip, tmp_path / "race.mp4"))
    args = ("process", str(clip), "--db", db_url, "--evidence", str(tmp_path / "evidence"),
            "--sample-fps", "2", "--no-progress")
    procs = [start_cli(*args) for _ in range(2)]  # started together: both load the model, then claim
    try:
        outputs = [one_line(proc.communicate(timeout=300)[0]) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    winners = [o for o in outputs if "done race.mp4" in o]
    losers = [o for o in outputs if "skipped race.mp4" in o]
    assert len(winners) == 1 and len(losers) == 1, outputs
    assert re.search(r"skipped race\.mp4: already (processed|being processed by \S+) \(video #1\)", losers[0])
    found = re.search(r"done race\.mp4: \d+ frames, \d+ detections, (\d+) objects", winners[0])
    assert found, winners[0]
    counts = table_counts(db_url)
    assert counts["videos"] == 1
    assert counts["observations"] == int(found.group(1)) > 0
    assert fetch_rows(db_url, select(Video.status)) == [{"status": "done"}]


def test_the_command_line_loads_no_heavy_library_before_a_command_runs() -> None:
    """Start-up: `streetwatch --help` and every command's parsing stay cheap (about 0.5 s). The database,
    vision and learning libraries load inside the command that needs them, never with the CLI itself."""
    import subprocess
    import sys

    heavy = ("sqlalchemy", "alembic", "torch", "supervision", "numpy", "cv2", "onnxruntime", "ray", "matplotlib")
    code = f"import sys, streetwatch.cli.main; print([m for m in {heavy!r} if m in sys.modules])"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]", found.stdout


def test_the_pipeline_is_imported_with_the_collector_paused_then_frozen() -> None:
    """`process` and `watch` import the pipeline through import_pipeline: afterwards the collector runs
    again, and the objects the imports built are out of its reach (frozen)."""
    import subprocess
    import sys

    code = ("import gc, sys; from streetwatch.cli.startup import import_pipeline; "
            "before = gc.get_freeze_count(); import_pipeline(); "
            "print(gc.isenabled(), 'streetwatch.pipeline.run' in sys.modules, gc.get_freeze_count() - before)")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    enabled, imported, frozen = found.stdout.split()
    assert (enabled, imported) == ("True", "True")
    assert int(frozen) > 100_000, found.stdout
