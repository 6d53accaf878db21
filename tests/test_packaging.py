"""The wheel is complete: every package in the tree is listed, under one installed namespace."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_directory_is_listed() -> None:
    config = _setuptools_config()
    found = {init.parent.relative_to(ROOT).as_posix().replace("/", ".")
             for init in ROOT.glob("streetwatch/**/__init__.py")}
    assert sorted(found - set(config["packages"])) == []


def test_one_top_level_namespace() -> None:
    config = _setuptools_config()
    assert {name.split(".")[0] for name in config["packages"]} == {"streetwatch"}
    # the only folder mapped from elsewhere is the data folder models/ -> streetwatch.assets
    assert config["package-dir"] == {"streetwatch.assets": "models"}


def test_assets_ship_the_taxonomy_workflow_tables_and_default_model() -> None:
    patterns = _setuptools_config()["package-data"]["streetwatch.assets"]
    models = ROOT / "models"
    shipped = {p.relative_to(models).as_posix() for pattern in patterns for p in models.glob(pattern)}
    for needed in ("taxonomy.yaml", "workflow/deadlines.yaml", "workflow/units.yaml", "workflow/notices.yaml"):
        assert needed in shipped
    assert any(name.endswith(".onnx") for name in shipped)
    assert any(name.endswith(".pt") for name in shipped)
