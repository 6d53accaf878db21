"""``streetwatch privacy measure`` end to end on a slice of the shared data set: one CCPD whole-car photo (its plate
box and text from ``ccpd_plates.csv``) and Ultralytics' two photos of people."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streetwatch.cli.main import app

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CCPD = DATA / "plates_and_text" / "ccpd_plates.csv"


@pytest.mark.slow  # three photos through CenterFace, the detector and OCR, raw and blurred: 10 to 40 s
def test_measure_prints_what_the_blur_hides(tmp_path: Path) -> None:
    if not CCPD.is_file():
        pytest.skip(f"the shared data set is absent ({CCPD})")
    with CCPD.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        row = next(reader)
        fields = reader.fieldnames
    plates = tmp_path / "plates_and_text"
    (plates / "ccpd_whole_car").mkdir(parents=True)
    (plates / "ccpd_whole_car" / row["file"]).symlink_to(DATA / "plates_and_text" / "ccpd_whole_car" / row["file"])
    with (plates / "ccpd_plates.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields or []))
        writer.writeheader()
        writer.writerow(row)

    result = CliRunner().invoke(app, ["privacy", "measure", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "faces: 4 found raw in 2 images, 0 found after blur (blur recall 1.000)" in result.output
    assert "plates: 1/1 boxes covered by the blur" in result.output
    assert "plates read by OCR: 1/1 raw, 0/1 after blur" in result.output


def test_measure_refuses_a_folder_that_is_not_the_data_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["privacy", "measure", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "not the shared data set" in result.output
