"""``streetwatch bench``: how fast is streetwatch on this machine?

Generates a 1080p30 patrol clip (panning over a real street photo), then measures:

1. decode frames/s (PyAV, every frame, and sampled at 5 fps);
2. detector inference ms/frame for each backend available here;
3. end to end (decode, detect, track, geolocate, evidence, database) for the clip at 1, 2, 5
   and 10 fps sampling, expressed as minutes of wall time per hour of footage.

Figures go to stdout as a Markdown table, ready for ``docs/benchmarks.md``.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(slots=True)
class BenchReport:
    machine: str
    clip: str
    decode_fps_all: float = 0.0
    decode_fps_sampled: float = 0.0
    inference_ms: dict[str, float] = field(default_factory=dict)
    minutes_per_hour: dict[float, float] = field(default_factory=dict)

    def markdown(self) -> str:
        lines = [f"machine: {self.machine}", f"clip: {self.clip}", "",
                 "| measure | value |", "|---|---|",
                 f"| decode, every frame | {self.decode_fps_all:.0f} frames/s |",
                 f"| decode, sampling 5 fps (every frame still decoded) | {self.decode_fps_sampled:.0f} frames/s |"]
        for name, ms in self.inference_ms.items():
            lines.append(f"| inference {name} | {ms:.1f} ms/frame |")
        for fps, minutes in sorted(self.minutes_per_hour.items()):
            lines.append(f"| end to end at {fps:g} fps | {minutes:.1f} min per footage hour |")
        return "\n".join(lines)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except Exception:  # pragma: no cover - torch missing or broken
        gpu = "no GPU"
    return f"{platform.system()} {cpu}, {os.cpu_count()} cores, {gpu}"


def make_bench_clip(folder: Path, seconds: float, size: tuple[int, int] = (1920, 1080), fps: int = 30) -> Path:
    from streetwatch.datasets import synthetic
    from streetwatch.datasets.demo import demo_image_path

    path = folder / f"bench-{size[1]}p{fps}-{seconds:g}s.mp4"
    if not path.exists():
        synthetic.make_patrol_clip(path, demo_image_path(), seconds=seconds, fps=fps, size=size)
    return path


def time_decode(path: Path, sample_fps: float | None) -> tuple[int, float]:
    from streetwatch.pipeline.frames import iter_frames

    started = time.perf_counter()
    count = sum(1 for _ in iter_frames(path, "bench", sample_fps=sample_fps))
    return count, time.perf_counter() - started


def time_inference(detect: Callable[[list[np.ndarray]], object], frames: list[np.ndarray], batch: int) -> float:
    detect(frames[:batch])  # warm-up
    started = time.perf_counter()
    for i in range(0, len(frames), batch):
        detect(frames[i:i + batch])
    return (time.perf_counter() - started) * 1000.0 / len(frames)


def run_bench(model: Path, seconds: float = 60.0, rates: tuple[float, ...] = (1, 2, 5, 10),
              workdir: Path | None = None, onnx_model: Path | None = None, batch: int = 8,
              log: Callable[[str], None] = print) -> BenchReport:
    """Measure decode, inference and end-to-end speed; see the module docstring."""
    from streetwatch.core.settings import get_settings
    from streetwatch.pipeline.frames import iter_frames
    from streetwatch.pipeline.run import process_videos
    from streetwatch.vision.detector import UltralyticsConfig, build_detector

    workdir = workdir or Path(tempfile.mkdtemp(prefix="streetwatch-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"generating a {seconds:g} s 1080p30 clip in {workdir} ...")
    clip = make_bench_clip(workdir, seconds)
    report = BenchReport(machine_description(), f"{clip.name} ({seconds:g} s, 1920x1080, 30 fps, H.264)")

    n, s = time_decode(clip, None)
    report.decode_fps_all = n / s
    log(f"decode every frame: {n} frames in {s:.1f} s")
    _, s = time_decode(clip, 5.0)
    report.decode_fps_sampled = seconds * 30 / s

    frames = [f.image for f in iter_frames(clip, "bench", sample_fps=2.0)][:32]
    detectors: dict[str, object] = {
        f"pytorch {model.name} 640 batch {batch}": build_detector(UltralyticsConfig(weights=model, batch_size=batch))}
    if onnx_model is not None:
        from streetwatch.vision.detector import OnnxConfig

        detectors[f"onnxruntime {onnx_model.name} batch {batch}"] = build_detector(
            OnnxConfig(weights=onnx_model, batch_size=batch))
    for name, detector in detectors.items():
        report.inference_ms[name] = time_inference(detector.detect, frames, batch)  # type: ignore[attr-defined]
        log(f"inference {name}: {report.inference_ms[name]:.1f} ms/frame")

    for rate in rates:
        db = workdir / f"bench-{rate:g}fps.db"
        db.unlink(missing_ok=True)
        settings = get_settings(db_url=f"sqlite:///{db}", evidence_dir=workdir / "evidence",
                                sample_fps=rate, model_path=onnx_model or model, batch_size=batch)
        started = time.perf_counter()
        summary = process_videos([clip], settings, progress=False)
        wall = time.perf_counter() - started
        if summary.failed:
            raise RuntimeError(f"bench run at {rate} fps failed: {summary.outcomes}")
        report.minutes_per_hour[rate] = wall / seconds * 60.0
        log(f"end to end at {rate:g} fps: {wall:.1f} s for {seconds:g} s of footage "
            f"= {report.minutes_per_hour[rate]:.1f} min per footage hour")
    return report
