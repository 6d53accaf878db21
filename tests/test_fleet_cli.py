"""The scale-out options of ``process``, ``watch`` and ``bench`` where they fail fast: --device, --log-format."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streetwatch.cli.main import app
from streetwatch.vision.device import CUDA_PROVIDER, Probes

runner = CliRunner()
needs_no_cuda = pytest.mark.skipif(CUDA_PROVIDER in Probes().ort_providers(),
                                   reason="this machine has CUDA: --device cuda would run")


@needs_no_cuda
@pytest.mark.parametrize("command", [
    ["bench", "--quick"],
    ["process", "{clip}", "--no-progress"],
    ["watch", "{depot}", "--once"],
])
def test_device_cuda_without_cuda_is_a_usage_error_naming_what_to_install(command: list[str], tmp_path: Path,
                                                                          tiny_mp4: Path) -> None:
    depot = tmp_path / "depot"
    depot.mkdir()
    args = [a.format(clip=tiny_mp4, depot=depot) for a in command]
    if command[0] != "bench":
        args += ["--db", f"sqlite:///{tmp_path / 'x.db'}", "--evidence", str(tmp_path / "ev")]
    result = runner.invoke(app, [*args, "--device", "cuda", *(["--workdir", str(tmp_path)] if args[0] == "bench"
                                                                 else [])])
    assert result.exit_code == 2, result.output
    assert "onnxruntime-gpu" in " ".join(result.output.split())
    assert not list(tmp_path.glob("*.mp4")), "no clip is generated for a bench that cannot run"


def test_an_unknown_device_or_log_format_is_refused(tmp_path: Path, tiny_mp4: Path) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'x.db'}", "--evidence", str(tmp_path / "ev")]
    unknown = runner.invoke(app, ["process", str(tiny_mp4), *db, "--device", "tpu", "--no-progress"])
    assert unknown.exit_code == 2 and "unknown device 'tpu'" in unknown.output
    bad_log = runner.invoke(app, ["process", str(tiny_mp4), *db, "--log-format", "xml"])
    assert bad_log.exit_code == 2 and "--log-format must be text or json" in " ".join(bad_log.output.split())
