"""``streetwatch bench --compare``: ``streetwatch process`` against Ultralytics' ``yolo track`` on one clip.

Both commands see the same clip, the same weights (our ONNX export; the ``.pt`` it was exported
from for ``yolo``) and the same sampling rate (``vid_stride`` = clip fps / ``fps``, rounded). They
run as child processes, in pairs whose order alternates (yolo first in pair 1, streetwatch first
in pair 2, ...) so that neither side always gets the warmer page cache or the quieter minute.

``yolo track`` detects and tracks only; ``process`` also judges, geolocates, reads text (OCR),
writes evidence crops and commits to SQLite. The ratio says what all that costs on top.
"""

from __future__ import annotations

import importlib.util
import shutil
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streetwatch.cli.bench_runs import ChildRun, child_env, median_run, process_args, run_child, run_process
from streetwatch.core.errors import MissingError

YOLO = "yolo track"
STREETWATCH = "streetwatch process"


@dataclass(frozen=True, slots=True)
class YoloSetup:
    """What ``yolo track`` needs: its entry point and PyTorch weights."""

    executable: Path
    weights: Path


@dataclass(frozen=True, slots=True)
class Skipped:
    """Why the comparison cannot run here, in words."""

    reason: str


def matching_pt(model: Path) -> Path | None:
    """The PyTorch weights ``model`` was made from, if they sit beside it.

    A ``.pt`` model is its own match. For an export, the match is the ``.pt`` in the same folder
    whose stem starts the export's stem, up to a separator (``streetwatch-v1.pt`` for
    ``streetwatch-v1-384x640.onnx``; the longest such stem wins).
    """
    if model.suffix == ".pt":
        return model
    stem = model.stem
    matches = [pt for pt in model.parent.glob("*.pt")
               if stem == pt.stem or (stem.startswith(pt.stem) and stem[len(pt.stem)] in "-_.")]
    return max(matches, key=lambda pt: len(pt.stem), default=None)


def find_yolo(model: Path, yolo_weights: Path | None) -> YoloSetup | Skipped:
    """Ultralytics' ``yolo`` entry point and the weights to give it, or why the comparison is skipped.

    Raises:
        MissingError: ``yolo_weights`` was given and does not exist.
    """
    if yolo_weights is not None and not yolo_weights.is_file():
        raise MissingError(f"--yolo-weights not found: {yolo_weights}")
    if importlib.util.find_spec("ultralytics") is None:
        return Skipped("Ultralytics is not installed (pip install ultralytics)")
    beside = Path(sys.executable).with_name("yolo")
    found = shutil.which("yolo")
    executable = beside if beside.is_file() else Path(found) if found else None
    if executable is None:
        return Skipped(f"Ultralytics is installed but its `yolo` entry point is neither beside {sys.executable} "
                       "nor on PATH")
    weights = yolo_weights or matching_pt(model)
    if weights is None:
        return Skipped(f"no PyTorch weights (.pt) beside {model} for yolo; name them with --yolo-weights")
    return YoloSetup(executable.absolute(), weights.absolute())


def vid_stride(clip_fps: float, sample_fps: float) -> int:
    """Ultralytics' ``vid_stride`` (every n-th frame) closest to sampling ``sample_fps``."""
    return max(1, round(clip_fps / sample_fps))


def yolo_argv(yolo: YoloSetup, clip: Path, stride: int) -> list[str]:
    """The ``yolo track`` command a user would type, on the bench clip."""
    return [str(yolo.executable), "track", f"model={yolo.weights}", f"source={clip}", f"vid_stride={stride}",
            "tracker=botsort.yaml", "save=False", "verbose=False"]


@dataclass(frozen=True, slots=True)
class PairRun:
    """One pair: both commands, and which ran first."""

    yolo: ChildRun
    streetwatch: ChildRun
    yolo_first: bool

    @property
    def cpu_ratio(self) -> float:
        """streetwatch's CPU seconds over yolo's."""
        return self.streetwatch.cpu_s / self.yolo.cpu_s


@dataclass(frozen=True, slots=True)
class CompareReport:
    """The pairs, and the commands they ran."""

    yolo_command: list[str]
    streetwatch_command: list[str]
    sample_fps: float
    pairs: list[PairRun]

    @property
    def ratio_of_medians(self) -> float:
        """Median streetwatch CPU seconds over median yolo CPU seconds."""
        return (median_run([p.streetwatch for p in self.pairs]).cpu_s
                / median_run([p.yolo for p in self.pairs]).cpu_s)

    @property
    def median_of_ratios(self) -> float:
        """The median of the per-pair CPU ratios."""
        return statistics.median(p.cpu_ratio for p in self.pairs)

    def markdown(self) -> str:
        """The section for docs/benchmarks.md."""
        lines = [f"`{' '.join(self.yolo_command)}`", "", f"`{' '.join(self.streetwatch_command)}`", "",
                 "| pair | command | wall s | CPU s | peak RSS MiB |", "|---|---|---|---|---|"]
        for number, pair in enumerate(self.pairs, start=1):
            order = [(YOLO, pair.yolo), (STREETWATCH, pair.streetwatch)]
            for name, run in order if pair.yolo_first else reversed(order):
                lines.append(_row(str(number), name, run))
        lines.append(_row("median", YOLO, median_run([p.yolo for p in self.pairs])))
        lines.append(_row("median", STREETWATCH, median_run([p.streetwatch for p in self.pairs])))
        lines += ["", f"CPU-time ratio streetwatch/yolo: {self.median_of_ratios:.2f} (median of per-pair ratios), "
                      f"{self.ratio_of_medians:.2f} (ratio of medians)"]
        return "\n".join(lines)


def _row(label: str, name: str, run: ChildRun) -> str:
    return f"| {label} | {name} | {run.wall_s:.1f} | {run.cpu_s:.1f} | {run.peak_rss_mib:.0f} |"


def run_compare(clip: Path, clip_fps: float, model: Path, yolo: YoloSetup, *, sample_fps: float, pairs: int,
                workdir: Path, log: Callable[[str], None]) -> CompareReport:
    """Time ``yolo track`` and ``streetwatch process`` on ``clip`` in ``pairs`` alternating pairs."""
    command = yolo_argv(yolo, clip, vid_stride(clip_fps, sample_fps))
    env = child_env()
    runs: list[PairRun] = []
    for number in range(1, pairs + 1):
        yolo_first = number % 2 == 1
        first, second = (YOLO, STREETWATCH) if yolo_first else (STREETWATCH, YOLO)
        timed: dict[str, ChildRun] = {}
        for name in (first, second):
            timed[name] = (run_child(command, env=env, cwd=workdir, what=YOLO) if name == YOLO
                           else run_process(clip, model, sample_fps, workdir))
            run = timed[name]
            log(f"pair {number}/{pairs}, {name}: {run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU, "
                f"{run.peak_rss_mib:.0f} MiB")
        runs.append(PairRun(timed[YOLO], timed[STREETWATCH], yolo_first))
    shown = ["streetwatch", *process_args(clip, model, sample_fps, workdir / "process-XXXX")]
    return CompareReport(["yolo", *command[1:]], shown, sample_fps, runs)
