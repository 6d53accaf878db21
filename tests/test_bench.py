"""``streetwatch bench``: child-process measurements, the yolo comparison and the Markdown it prints.

The unit tests are fast; ``test_quick_compare_prints_every_section`` runs the real thing (a 2 s
1080p clip, ``yolo track`` and ``streetwatch process`` once each, about a minute on two cores).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streetwatch.cli import bench_compare
from streetwatch.cli.bench import BenchReport, Clip, bench_plan, parse_rates
from streetwatch.cli.bench_compare import Skipped, find_yolo, matching_pt, vid_stride
from streetwatch.cli.bench_runs import BenchError, child_env, parse_importtime, run_child
from streetwatch.cli.main import app
from streetwatch.core.errors import BadInputError, MissingError
from streetwatch.core.settings import DEFAULT_MODEL, DEFAULT_WEIGHTS_PT

runner = CliRunner()
NUMBER = r"(\d+(?:\.\d+)?)"


# --- child processes -------------------------------------------------------------------------------


def test_child_run_measures_its_own_cpu_and_memory(tmp_path: Path) -> None:
    """CPU time is the child's; its peak memory is its own, not the (larger) bench process's."""
    burn = ("import time\nblock = b'x' * (200 << 20)\n"  # 200 MiB, written
            "while time.process_time() < 0.5: pass")
    run = run_child([sys.executable, "-c", burn], env=child_env(), cwd=tmp_path, what="burn")
    assert 0.5 <= run.cpu_s <= run.wall_s + 0.5
    assert 200 <= run.peak_rss_mib < 300

    idle = run_child([sys.executable, "-c", "pass"], env=child_env(), cwd=tmp_path, what="idle")
    assert idle.peak_rss_mib < 60  # the launcher keeps the bench's own memory out of the figure


def test_a_failing_child_is_a_bench_error_with_its_last_output(tmp_path: Path) -> None:
    script = "import sys; print('first line'); print('what went wrong', file=sys.stderr); sys.exit(3)"
    with pytest.raises(BenchError, match=r"crash failed \(exit 3\).*what went wrong"):
        run_child([sys.executable, "-c", script], env=child_env(), cwd=tmp_path, what="crash")


def test_a_command_that_does_not_exist_is_a_bench_error(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match=r"could not run ghost: no-such-command-here .*No such file"):
        run_child(["no-such-command-here"], env=child_env(), cwd=tmp_path, what="ghost")


def test_children_run_this_streetwatch_offline() -> None:
    env = child_env()
    source_root = str(Path(__file__).resolve().parents[1])
    assert env["PYTHONPATH"].split(":")[0] == source_root
    assert env["YOLO_OFFLINE"] == "1"
    assert env["YOLO_AUTOINSTALL"] == "false"


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |     c
import time:       200 |        300 |   b
import time:        50 |         50 |   d
import time:      1000 |       1350 | a
import time:        10 |         10 | e
"""


def test_importtime_lines_are_parsed_with_their_importer() -> None:
    costs = {c.module: c for c in parse_importtime(IMPORTTIME)}
    assert list(costs) == ["c", "b", "d", "a", "e"]
    assert (costs["a"].cumulative_s, costs["a"].self_s, costs["a"].imported_by) == (0.00135, 0.001, "")
    assert costs["c"].imported_by == "b"
    assert costs["b"].imported_by == "a"
    assert costs["d"].imported_by == "a"
    assert costs["e"].imported_by == ""


# --- the comparison's set-up -----------------------------------------------------------------------


def test_the_pt_beside_the_onnx_export_is_found(tmp_path: Path) -> None:
    for name in ("model-v1.pt", "model-v10.pt", "model.pt", "other.pt"):
        (tmp_path / name).touch()
    assert matching_pt(tmp_path / "model-v1-384x640.onnx") == tmp_path / "model-v1.pt"
    assert matching_pt(tmp_path / "model-v10-384x640.onnx") == tmp_path / "model-v10.pt"
    assert matching_pt(tmp_path / "model.onnx") == tmp_path / "model.pt"
    assert matching_pt(tmp_path / "model-v2.pt") == tmp_path / "model-v2.pt"  # a .pt is its own match
    assert matching_pt(tmp_path / "unrelated.onnx") is None
    assert matching_pt(DEFAULT_MODEL) == DEFAULT_WEIGHTS_PT


@pytest.mark.parametrize(("clip_fps", "fps", "stride"), [(30, 5, 6), (30, 1, 30), (25, 5, 5), (29.97, 10, 3),
                                                         (30, 60, 1)])
def test_vid_stride_samples_the_same_rate(clip_fps: float, fps: float, stride: int) -> None:
    assert vid_stride(clip_fps, fps) == stride


def test_without_ultralytics_the_comparison_is_skipped_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_compare.importlib.util, "find_spec", lambda name: None)
    skipped = find_yolo(DEFAULT_MODEL, None)
    assert isinstance(skipped, Skipped)
    assert "Ultralytics is not installed" in skipped.reason


def test_without_pt_weights_the_comparison_is_skipped_and_says_why(tmp_path: Path) -> None:
    onnx = tmp_path / "lonely-384x640.onnx"
    onnx.touch()
    skipped = find_yolo(onnx, None)
    assert isinstance(skipped, Skipped)
    assert "--yolo-weights" in skipped.reason


def test_named_yolo_weights_must_exist(tmp_path: Path) -> None:
    with pytest.raises(MissingError, match="--yolo-weights not found"):
        find_yolo(DEFAULT_MODEL, tmp_path / "absent.pt")


def test_a_skipped_comparison_is_reported() -> None:
    report = BenchReport("a machine", Clip(Path("c.mp4"), 4.0, 30.0, "c.mp4"), "1.00, 1.00, 1.00",
                         compare=Skipped("Ultralytics is not installed (pip install ultralytics)"))
    assert "skipped: Ultralytics is not installed" in report.markdown()


# --- options ---------------------------------------------------------------------------------------


def test_quick_changes_defaults_but_not_what_is_given(tmp_path: Path) -> None:
    full = bench_plan(model=DEFAULT_MODEL, workdir=tmp_path)
    quick = bench_plan(quick=True, model=DEFAULT_MODEL, workdir=tmp_path)
    given = bench_plan(quick=True, model=DEFAULT_MODEL, workdir=tmp_path, seconds=4.0, pairs=2, fps=2.0)
    assert (full.seconds, full.rates, full.pairs, full.startup_repeats) == (60.0, (1.0, 2.0, 5.0, 10.0), 3, 5)
    assert (quick.seconds, quick.rates, quick.pairs, quick.startup_repeats) == (10.0, (5.0,), 1, 3)
    assert (given.seconds, given.rates, given.pairs) == (4.0, (2.0,), 2)


def test_rates_are_parsed_and_checked() -> None:
    assert parse_rates("1, 2,5,5") == (1.0, 2.0, 5.0)
    with pytest.raises(BadInputError, match="numbers"):
        parse_rates("1,fast")
    with pytest.raises(BadInputError, match="positive"):
        parse_rates("0,5")


def test_a_missing_clip_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "--clip", str(tmp_path / "absent.mp4"), "--workdir", str(tmp_path)])
    assert result.exit_code == 3
    assert "clip not found" in result.output


def test_missing_weights_are_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "--model", str(tmp_path / "absent.onnx"), "--workdir", str(tmp_path)])
    assert result.exit_code == 3
    assert "detector weights not found" in result.output


# --- the real thing --------------------------------------------------------------------------------


def table_rows(markdown: str, header: str) -> list[list[str]]:
    """The body rows (cells stripped) of the Markdown table whose header line starts with ``header``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    assert set(lines[start + 1]) <= set("|-"), f"no separator under {lines[start]!r}"
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def positive_numbers(cells: list[str]) -> list[float]:
    values = [float(cell) for cell in cells]
    assert all(value > 0 for value in values), cells
    return values


@pytest.mark.slow
def test_quick_compare_prints_every_section(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics")
    result = runner.invoke(app, ["bench", "--quick", "--compare", "--seconds", "2", "--workdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.stdout

    compare = table_rows(out, "| pair | command | wall s | CPU s | peak RSS MiB |")
    assert [row[:2] for row in compare] == [["1", "yolo track"], ["1", "streetwatch process"],
                                            ["median", "yolo track"], ["median", "streetwatch process"]]
    figures = [positive_numbers(row[2:]) for row in compare]
    yolo_cpu, streetwatch_cpu = figures[0][1], figures[1][1]
    ratio = re.search(rf"CPU-time ratio streetwatch/yolo: {NUMBER} \(median of per-pair ratios\), "
                      rf"{NUMBER} \(ratio of medians\)", out)
    assert ratio is not None, out
    # one pair: both ratios are that pair's, and agree with the table (rounded to 0.1 s there)
    assert float(ratio[1]) == float(ratio[2]) == pytest.approx(streetwatch_cpu / yolo_cpu, rel=0.05, abs=0.02)
    assert "vid_stride=6" in out  # 30 fps clip, 5 fps sampling
    assert "--sample-fps 5" in out

    startup = table_rows(out, "| start-up (median of 3 child processes) |")
    assert [row[0] for row in startup] == ["`streetwatch process --help`",
                                           "`from streetwatch.cli.startup import import_pipeline; import_pipeline()`"]
    for row in startup:
        positive_numbers(row[1:])
    slowest = table_rows(out, "| module | cumulative s | self s | first imported by |")
    assert len(slowest) == 5
    cumulative = [float(row[1]) for row in slowest]
    assert cumulative == sorted(cumulative, reverse=True) and cumulative[0] > 0

    stages = table_rows(out, "| measure | value | CPU per frame |")
    assert any(row[0].startswith("inference onnxruntime") for row in stages)
    assert all(re.fullmatch(rf"{NUMBER} (frames/s|ms/frame)", row[1]) and float(row[1].split()[0]) > 0
               for row in stages)
    assert all(re.fullmatch(rf"{NUMBER} ms", row[2]) and float(row[2].split()[0]) > 0 for row in stages)

    end_to_end = table_rows(out, "| sampling | wall s | CPU s |")
    assert [row[0] for row in end_to_end] == ["5 fps (the comparison's run)"]
    assert positive_numbers(end_to_end[0][1:])[:2] == figures[1][:2]  # the comparison's run, reused
