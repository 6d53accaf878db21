"""``streetwatch bench``: how fast is streetwatch on this machine, and against ``yolo track``?

Generates a 1080p30 patrol clip (panning over a real street photo), or takes ``--clip``, then measures:

1. stages, in this process: decode frames/s (PyAV, every frame, and sampled at 5 fps) and
   detector inference ms/frame for our model and the PyTorch weights it was exported from, each
   with its CPU time per frame (all threads: a stage that runs on two cores shows it);
2. start-up, as child processes: ``streetwatch process --help`` and the pipeline's import
   (median of 5), and the slowest imports (``python -X importtime``);
3. with ``--compare``: ``streetwatch process`` against Ultralytics' ``yolo track`` on the clip
   (``streetwatch.cli.bench_compare``): wall, CPU and peak memory per run, and the CPU ratio;
4. end to end, as child processes: ``streetwatch process`` on the clip at 1, 2, 5 and 10 fps,
   in wall and CPU minutes per hour of footage (start-up included).

Child processes are measured by ``streetwatch.cli.bench_runs``. Figures go to stdout as
Markdown, ready for ``docs/benchmarks.md``; progress goes to the log (stderr).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streetwatch.cli.bench_compare import CompareReport, Skipped, find_yolo, matching_pt, run_compare
from streetwatch.cli.bench_runs import ChildRun, StartupReport, measure_startup, median_run, run_process
from streetwatch.core.errors import BadInputError, MissingError

if TYPE_CHECKING:
    from streetwatch.pipeline.frames import DecodeStats
    from streetwatch.vision.detector import Detector

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """What one ``streetwatch bench`` measures.

    Attributes:
        model: Our detector weights (the ONNX export ``process`` runs by default, or a ``.pt``).
        workdir: Where the generated clip and the scratch databases go.
        seconds: Length of the generated clip (ignored with ``clip``).
        rates: Sampling rates (frames/s) to time end to end.
        clip: A video to bench on instead of a generated one.
        compare: Whether to time ``yolo track`` against ``process``.
        yolo_weights: PyTorch weights for ``yolo`` (default: the ``.pt`` beside ``model``).
        fps: The sampling rate of the comparison.
        pairs: How many alternating (yolo, streetwatch) pairs the comparison runs.
        startup_repeats: Child processes per start-up figure.
        batch: Inference batch size for the stage timings (None: the device's, 8 on the CPU, 32 on CUDA).
        device: Where our detector runs (``auto``, ``cpu``, ``cuda[:N]``; see ``streetwatch.vision.device``).
    """

    model: Path
    workdir: Path
    seconds: float = 60.0
    rates: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)
    clip: Path | None = None
    compare: bool = False
    yolo_weights: Path | None = None
    fps: float = 5.0
    pairs: int = 3
    startup_repeats: int = 5
    batch: int | None = None
    device: str = "cpu"


def bench_plan(*, quick: bool = False, **given: Any) -> BenchPlan:
    """A plan from the options given (``BenchPlan``'s fields).

    ``quick`` changes the defaults only, to the smallest plan that still shows every section (tests,
    a first look): a 10 s clip, 1 pair, start-up timed 3 times, end to end at the comparison's rate.
    An option given wins over both.
    """
    defaults: dict[str, Any] = {}
    if quick:
        defaults = {"seconds": 10.0, "pairs": 1, "startup_repeats": 3, "rates": (given.get("fps", 5.0),)}
    return BenchPlan(**{**defaults, **given})


@dataclass(frozen=True, slots=True)
class Clip:
    """The footage every measurement runs on."""

    path: Path
    seconds: float
    fps: float
    description: str

    @property
    def frames(self) -> int:
        """Frames in the clip (duration x rate)."""
        return round(self.seconds * self.fps)


@dataclass(frozen=True, slots=True)
class EndToEnd:
    """``streetwatch process`` at one sampling rate: one child run, or a median (``note`` says which)."""

    rate: float
    run: ChildRun
    note: str = ""


def per_footage_hour(seconds: float, footage_s: float) -> float:
    """``seconds`` of work on ``footage_s`` of footage, as minutes per hour of footage."""
    return seconds / footage_s * 60.0


@dataclass(frozen=True, slots=True)
class StageTime:
    """One stage timed in this process: frames through it, wall seconds, and CPU seconds of all threads."""

    frames: int
    wall_s: float
    user_s: float
    system_s: float

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.system_s

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def wall_ms(self) -> float:
        return self.wall_s * 1000.0 / self.frames if self.frames else 0.0

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s * 1000.0 / self.frames if self.frames else 0.0


def time_stage(work: Callable[[], int]) -> StageTime:
    """Run ``work`` (it returns how many frames it handled) and time it: wall, and this process's user and
    system CPU (all threads)."""
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    frames = work()
    wall_s = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return StageTime(frames, wall_s, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)


@dataclass(slots=True)
class BenchReport:
    """Everything one bench measured; :meth:`markdown` prints it."""

    machine: str
    clip: Clip
    load_before: str
    load_after: str = ""
    decode_all: StageTime | None = None       # every frame of the clip
    decode_sampled: StageTime | None = None   # sampling 5 fps; frames = the clip's frames
    decoder: str = "pyav"            # what decoded in the stage timings: pyav (the CPU) or nvdec
    inference: dict[str, StageTime] = field(default_factory=dict)
    startup: StartupReport | None = None
    compare: CompareReport | Skipped | None = None
    end_to_end: list[EndToEnd] = field(default_factory=list)

    def markdown(self) -> str:
        """The report, as Markdown for docs/benchmarks.md."""
        sections = [self._header(), "### Stages (in process)", self._stages()]
        if self.startup is not None:
            sections += ["### Start-up", self.startup.markdown()]
        if isinstance(self.compare, CompareReport):
            pairs = len(self.compare.pairs)
            sections += [f"### streetwatch process vs yolo track ({self.compare.sample_fps:g} fps, "
                         f"{pairs} pair{'s' if pairs != 1 else ''}, alternating order)", self.compare.markdown()]
        elif isinstance(self.compare, Skipped):
            sections += ["### streetwatch process vs yolo track", f"skipped: {self.compare.reason}"]
        if self.end_to_end:
            sections += ["### End to end (`streetwatch process`, child processes, start-up included)",
                         self._end_to_end()]
        return "\n\n".join(sections)

    def _header(self) -> str:
        lines = [f"- machine: {self.machine}", f"- clip: {self.clip.description}",
                 f"- load average (1, 5, 15 min): {self.load_before} at start, {self.load_after} at end"]
        overrides = sorted(k for k in os.environ if k.startswith("STREETWATCH_"))
        if overrides:
            lines.append(f"- environment: {', '.join(overrides)} set")
        return "\n".join(lines)

    def _stages(self) -> str:
        lines = ["| measure | value | CPU per frame |", "|---|---|---|"]
        decodes = ((f"decode ({self.decoder}), every frame", self.decode_all),
                   (f"decode ({self.decoder}), sampling 5 fps (every frame still decoded)", self.decode_sampled))
        for label, stage in decodes:
            if stage is not None:
                lines.append(f"| {label} | {stage.fps:.0f} frames/s | {stage.cpu_ms:.1f} ms |")
        lines += [f"| inference {name} | {stage.wall_ms:.1f} ms/frame | {stage.cpu_ms:.1f} ms |"
                  for name, stage in self.inference.items()]
        return "\n".join(lines)

    def _end_to_end(self) -> str:
        lines = ["| sampling | wall s | CPU s | peak RSS MiB | wall min per footage hour | CPU min per footage hour |",
                 "|---|---|---|---|---|---|"]
        footage = self.clip.seconds
        for e2e in sorted(self.end_to_end, key=lambda e: e.rate):
            label = f"{e2e.rate:g} fps" + (f" ({e2e.note})" if e2e.note else "")
            lines.append(f"| {label} | {e2e.run.wall_s:.1f} | {e2e.run.cpu_s:.1f} | {e2e.run.peak_rss_mib:.0f} | "
                         f"{per_footage_hour(e2e.run.wall_s, footage):.1f} | "
                         f"{per_footage_hour(e2e.run.cpu_s, footage):.1f} |")
        return "\n".join(lines)


def machine_description() -> str:
    """OS, CPU, core count and GPU, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except Exception:  # pragma: no cover - torch missing or broken
        gpu = "no GPU"
    return f"{platform.system()} {cpu}, {os.cpu_count()} cores, {gpu}"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or "unknown" where the OS has none."""
    try:
        return ", ".join(f"{load:.2f}" for load in os.getloadavg())
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return "unknown"


def make_bench_clip(folder: Path, seconds: float, size: tuple[int, int] = (1920, 1080), fps: int = 30) -> Path:
    """A patrol clip panning over the demo street photo; reused when the folder already has it."""
    from streetwatch.datasets import synthetic
    from streetwatch.datasets.demo import demo_image_path

    path = folder / f"bench-{size[1]}p{fps}-{seconds:g}s.mp4"
    if not path.exists():
        synthetic.make_patrol_clip(path, demo_image_path(), seconds=seconds, fps=fps, size=size)
    return path


def prepare_clip(plan: BenchPlan, log: Log) -> Clip:
    """The clip the plan names, or a generated one; probed for its duration and frame rate.

    Raises:
        MissingError: ``plan.clip`` does not exist.
        BadInputError: It is not a usable video.
    """
    from streetwatch.pipeline.ingest import IngestError, probe_video

    if plan.clip is None:
        log(f"generating a {plan.seconds:g} s 1080p30 clip in {plan.workdir} ...")
        path = make_bench_clip(plan.workdir, plan.seconds)
    elif not plan.clip.is_file():
        raise MissingError(f"clip not found: {plan.clip}")
    else:
        path = plan.clip
    info = probe_video(path)
    if isinstance(info, IngestError):
        raise BadInputError(f"cannot bench on {path}: {info.message}")
    if info.duration_s <= 0 or info.avg_fps <= 0:
        raise BadInputError(f"cannot bench on {path}: its duration or frame rate is unknown")
    description = (f"{path.name} ({info.duration_s:g} s, {info.width}x{info.height}, {info.avg_fps:g} fps, "
                   f"{info.codec})")
    return Clip(path.absolute(), info.duration_s, info.avg_fps, description)


def time_decode(path: Path, sample_fps: float | None, nvdec_device: int | None = None, *,
                stats: DecodeStats | None = None, **decoding: Any) -> tuple[StageTime, str]:
    """Frames yielded, wall and CPU time to decode ``path`` (every frame, or sampled; in one FFmpeg thread unless
    ``decoding`` says otherwise: it is passed to ``iter_frames``, e.g. ``skip_nonref``, ``decode_threads``), and
    what decoded it (``pyav``, or ``nvdec`` when ``nvdec_device`` was asked for and could be used)."""
    from streetwatch.pipeline.frames import DecodeStats, iter_frames

    stats = stats if stats is not None else DecodeStats()
    frames = iter_frames(path, "bench", sample_fps=sample_fps, stats=stats, nvdec_device=nvdec_device, **decoding)
    return time_stage(lambda: sum(1 for _ in frames)), stats.decoder.value


def time_inference(detect: Callable[[list[np.ndarray]], object], frames: list[np.ndarray], batch: int) -> StageTime:
    """Wall and CPU time to detect ``frames`` in batches, after one warm-up batch."""
    detect(frames[:batch])  # warm-up

    def run() -> int:
        for i in range(0, len(frames), batch):
            detect(frames[i:i + batch])
        return len(frames)

    return time_stage(run)


def measure_stages(report: BenchReport, plan: BenchPlan, log: Log) -> None:
    """Decode and inference speed, in this process."""
    from streetwatch.pipeline.frames import iter_frames
    from streetwatch.vision.device import FrameDecoder, plan_device

    clip = report.clip
    where = plan_device(plan.device, plan.model, runtime="onnx" if plan.model.suffix == ".onnx" else "torch",
                        batch_size=plan.batch)
    nvdec = where.device_id if where.decoder is FrameDecoder.NVDEC else None
    report.decode_all, report.decoder = time_decode(clip.path, None, nvdec)
    log(f"decode every frame ({report.decoder}): {report.decode_all.frames} frames in "
        f"{report.decode_all.wall_s:.1f} s, {report.decode_all.cpu_s:.1f} s CPU")
    sampled, _ = time_decode(clip.path, 5.0, nvdec)
    report.decode_sampled = dataclasses.replace(sampled, frames=clip.frames)   # per frame of the clip

    frames = [f.image for f in iter_frames(clip.path, "bench", sample_fps=2.0)][:32]
    for name, (detector, batch) in _detectors(plan).items():
        report.inference[name] = stage = time_inference(detector.detect, frames, batch)
        log(f"inference {name}: {stage.wall_ms:.1f} ms/frame, {stage.cpu_ms:.1f} ms CPU")


def _detectors(plan: BenchPlan) -> dict[str, tuple[Detector, int]]:
    """Our model (ONNX Runtime for an .onnx), and the PyTorch weights yolo runs when they differ."""
    from streetwatch.vision.detector import OnnxConfig, UltralyticsConfig, build_detector
    from streetwatch.vision.device import plan_device

    onnx = plan.model.suffix == ".onnx"
    where = plan_device(plan.device, plan.model, runtime="onnx" if onnx else "torch", batch_size=plan.batch)
    ours = (OnnxConfig(weights=where.weights, batch_size=where.batch_size, providers=where.onnx_providers,
                       device_id=where.device_id) if onnx
            else UltralyticsConfig(weights=plan.model, batch_size=where.batch_size, device=where.torch_device,
                                   half=where.half))
    backend = "onnxruntime" if ours.kind == "onnx" else "pytorch"
    detectors = {f"{backend} {where.weights.name} {where.device} batch {where.batch_size}":
                 (build_detector(ours), where.batch_size)}
    pt = plan.yolo_weights or matching_pt(plan.model)
    if pt is not None and pt.is_file() and pt != plan.model:
        torch_where = plan_device(plan.device, pt, runtime="torch", batch_size=plan.batch)
        detectors[f"pytorch {pt.name} 640 {torch_where.device} batch {torch_where.batch_size}"] = (build_detector(
            UltralyticsConfig(weights=pt, batch_size=torch_where.batch_size, device=torch_where.torch_device,
                              half=torch_where.half)), torch_where.batch_size)
    return detectors


def measure_end_to_end(clip: Clip, plan: BenchPlan, reuse: dict[float, list[ChildRun]], log: Log) -> list[EndToEnd]:
    """``streetwatch process`` at each rate of the plan, once; a rate in ``reuse`` takes those runs' median."""
    results = []
    for rate in plan.rates:
        if rate in reuse:
            runs = reuse[rate]
            note = f"median of the comparison's {len(runs)} runs" if len(runs) > 1 else "the comparison's run"
            results.append(EndToEnd(rate, median_run(runs), note))
            continue
        run = run_process(clip.path, plan.model, rate, plan.workdir)
        log(f"end to end at {rate:g} fps: {run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU "
            f"for {clip.seconds:g} s of footage")
        results.append(EndToEnd(rate, run))
    return results


def run_bench(plan: BenchPlan, log: Log = print) -> BenchReport:
    """Measure everything the plan asks for; see the module docstring.

    Raises:
        MissingError: The model, the clip or ``--yolo-weights`` does not exist.
        BadInputError: The clip is not a usable video.
        BenchError: A timed command failed.
    """
    if not plan.model.is_file():
        raise MissingError(f"detector weights not found: {plan.model}")
    # Children run in the work folder: every path they are given must be absolute.
    plan = dataclasses.replace(plan, model=plan.model.absolute(), workdir=plan.workdir.absolute(),
                               yolo_weights=plan.yolo_weights.absolute() if plan.yolo_weights else None)
    plan.workdir.mkdir(parents=True, exist_ok=True)
    yolo = find_yolo(plan.model, plan.yolo_weights) if plan.compare else None
    clip = prepare_clip(plan, log)
    report = BenchReport(machine_description(), clip, load_average())
    measure_stages(report, plan, log)
    log(f"start-up: {plan.startup_repeats} child processes each ...")
    report.startup = measure_startup(plan.startup_repeats, cwd=plan.workdir)
    reuse: dict[float, list[ChildRun]] = {}
    if isinstance(yolo, Skipped):
        log(f"comparison with yolo track skipped: {yolo.reason}")
        report.compare = yolo
    elif yolo is not None:
        report.compare = run_compare(clip.path, clip.fps, plan.model, yolo, sample_fps=plan.fps,
                                     pairs=plan.pairs, workdir=plan.workdir, log=log)
        reuse[plan.fps] = [pair.streetwatch for pair in report.compare.pairs]
    report.end_to_end = measure_end_to_end(clip, plan, reuse, log)
    report.load_after = load_average()
    return report


def parse_rates(text: str) -> tuple[float, ...]:
    """``"1,2,5,10"`` -> ``(1.0, 2.0, 5.0, 10.0)`` (repeats dropped).

    Raises:
        BadInputError: A rate is not a positive number.
    """
    try:
        rates = tuple(dict.fromkeys(float(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise BadInputError(f"--rates must be numbers separated by commas, got {text!r}") from None
    if not rates or any(rate <= 0 for rate in rates):
        raise BadInputError(f"--rates must be positive frames per second, got {text!r}")
    return rates
