"""Start-up of the commands that process footage: the pipeline's imports, paid once and cheaply.

Importing the pipeline (SQLAlchemy's models, pydantic settings, PyAV, OpenCV, the rules) creates a
few hundred thousand long-lived objects, and CPython's cyclic garbage collector runs over and over
while they appear: about a tenth of the import time on the 2-core machine (2.9 -> 2.5 s,
`docs/benchmarks.md`). :func:`import_pipeline` imports with the collector paused and then freezes
what exists (``gc.freeze``), so that the run's own collections never walk those objects again.
"""

from __future__ import annotations

import gc
import importlib
from typing import Final

PIPELINE_MODULE: Final = "streetwatch.pipeline.run"


def import_pipeline() -> None:
    """Import the footage pipeline with the garbage collector paused, then freeze what was built."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        importlib.import_module(PIPELINE_MODULE)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
