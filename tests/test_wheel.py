"""The wheel a non-editable ``pip install .`` installs: one top-level package with its data inside."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_holds_one_package_with_taxonomy_workflow_tables_and_default_model(tmp_path: Path) -> None:
    setuptools = pytest.importorskip("setuptools")
    if tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (77, 0):
        pytest.skip(f"building the wheel offline needs setuptools >= 77 here, found {setuptools.__version__}")
    source = tmp_path / "src"   # a copy: building in the checkout would leave build/ and egg-info behind
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(source)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(source)], check=True)
    (wheel,) = (tmp_path / "dist").glob("streetwatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"streetwatch"}
    for needed in ("streetwatch/assets/taxonomy.yaml", "streetwatch/assets/workflow/deadlines.yaml",
                   "streetwatch/assets/workflow/units.yaml", "streetwatch/assets/zones/sample-zones.geojson",
                   "streetwatch/store/migrations/env.py", "streetwatch/api/templates/base.html"):
        assert needed in names, needed
    from streetwatch.core.settings import DEFAULT_MODEL, DEFAULT_WEIGHTS_PT

    for model in (DEFAULT_MODEL, DEFAULT_WEIGHTS_PT):
        assert f"streetwatch/assets/{model.parent.name}/{model.name}" in names
