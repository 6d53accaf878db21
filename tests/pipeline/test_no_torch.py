"""The default CPU path (ONNX Runtime detector, numpy tracker) never imports PyTorch.

Importing torch and torchvision costs about two seconds of start-up and CPU on every run; the
test runs a whole ``streetwatch process`` with the defaults in a fresh interpreter and fails if
torch, torchvision, Ultralytics or supervision (with scipy: about 0.7 s) were imported on the way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.video_fixtures import make_clip

# torch and Ultralytics: about two seconds; supervision: about 0.7 s (its annotators import scipy)
HEAVY = ("torch", "torchvision", "ultralytics", "supervision", "scipy")


def test_process_with_the_defaults_imports_no_torch(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=2.0, size=(320, 192))
    script = textwrap.dedent(f"""
        import sys
        from streetwatch.cli.main import app
        try:
            app([{str(clip)!r}, "--db", "sqlite:///{tmp_path / 'sw.db'}", "--evidence", {str(tmp_path / 'ev')!r},
                 "--no-progress"], prog_name="streetwatch", standalone_mode=False)
        finally:
            print("HEAVY", sorted({{m.split(".")[0] for m in sys.modules}} & {set(HEAVY)!r}))
    """).replace("app([", "app(['process', ")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "videos processed" in done.stdout, done.stdout
    heavy = next(line for line in done.stdout.splitlines() if line.startswith("HEAVY"))
    assert heavy == "HEAVY []", heavy
