"""Where the package data lives: the taxonomy, the default model, workflow tables and samples.

The repository keeps them in ``models/``; the wheel installs that folder as
``streetwatch/assets`` (``package-dir`` in pyproject.toml), and an editable install maps the
same name onto ``models/``. Code asks for ``ASSETS_DIR`` and never builds paths from its own
source location.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Final


def _assets_dir() -> Path:
    return Path(str(files("streetwatch.assets")))


ASSETS_DIR: Final = _assets_dir()
