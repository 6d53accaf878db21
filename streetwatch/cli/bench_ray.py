"""``streetwatch bench-ray``: what the Ray backend buys (1 against 2 workers) and what it costs (overhead).

Two measurements, printed as Markdown for docs/benchmarks.md and docs/scaling.md:

1. **Scaling**: the same set of distinct generated patrol clips processed by a local Ray instance
   with 1, then 2 (``--workers``) single-core workers (``num_cpus`` = workers, one core per video's
   task, its detector on one thread); wall time from submitting the batch to the last commit
   (worker start-up and model load included, ``ray.init`` timed apart), footage hours per wall hour,
   and the throughput ratio against the first worker count.
2. **Overhead**: one clip (``--overhead-seconds``, 60 by default) processed in this process (the
   default path, no Ray) and as one Ray task with every core (``--cpus-per-video`` = all cores):
   cold (a fresh Ray instance: the worker process starts, imports and loads the model) and warm (a
   second run: the worker process and its imports reused). Each run writes a fresh database, so nothing is skipped.

Register in ``streetwatch/cli/main.py``: ``app.command("bench-ray")(bench_ray.bench_ray)``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)
# Distinct content per clip: each pans its own way over the street photo.
PANS = ((0.0, 1.0), (1.0, 0.0), (0.2, 0.8), (0.8, 0.2), (0.4, 0.9), (0.9, 0.4), (0.1, 0.5), (0.5, 0.1))


@dataclass(frozen=True, slots=True)
class Timed:
    label: str
    footage_s: float
    wall_s: float
    init_s: float = 0.0
    videos: int = 1

    @property
    def footage_h_per_h(self) -> float:
        return self.footage_s / self.wall_s


def bench_clips(folder: Path, count: int, seconds: float, size: tuple[int, int] = (1920, 1080),
                fps: int = 30) -> list[Path]:
    """``count`` distinct patrol clips (reused when the folder has them)."""
    from streetwatch.datasets import synthetic
    from streetwatch.datasets.demo import demo_image_path

    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for index in range(count):
        path = folder / f"ray-{index}-{size[1]}p{fps}-{seconds:g}s.mp4"
        if not path.exists():
            console.print(f"generating {path} ...")
            partial = path.with_name(f".{path.name}")
            synthetic.make_patrol_clip(partial, demo_image_path(), seconds=seconds, fps=fps, size=size,
                                       pan=PANS[index % len(PANS)])
            partial.rename(path)
        clips.append(path)
    return clips


def _fresh(workdir: Path, name: str, sample_fps: float) -> object:
    import shutil

    from streetwatch.core.settings import get_settings

    run_dir = workdir / name
    shutil.rmtree(run_dir, ignore_errors=True)
    return get_settings(db_url=f"sqlite:///{(run_dir / 'streetwatch.db').absolute()}",
                        evidence_dir=run_dir / "evidence", sample_fps=sample_fps)


def time_ray(clips: list[Path], footage_s: float, workdir: Path, *, workers: int, cpus_per_video: int,
             sample_fps: float, label: str, runs: int = 1) -> list[Timed]:
    """Wall time of ``runs`` batches on one fresh local Ray instance of ``workers`` cores."""
    import ray

    from streetwatch.core.settings import Settings
    from streetwatch.pipeline.fleet import RayFleet, start_ray

    started = time.perf_counter()
    start_ray("local", num_cpus=workers)
    init_s = time.perf_counter() - started
    results = []
    try:
        for run in range(runs):
            settings = _fresh(workdir, f"ray-{workers}w-{run}", sample_fps)
            assert isinstance(settings, Settings)
            fleet = RayFleet(settings, "local", cpus_per_video=cpus_per_video)
            started = time.perf_counter()
            summary = fleet.run(clips)
            wall = time.perf_counter() - started
            if len(summary.processed()) != len(clips):
                raise RuntimeError(f"{label}: not every clip was processed: {summary.outcomes}")
            results.append(Timed(label if runs == 1 else f"{label}, run {run + 1}", footage_s, wall, init_s,
                                 len(clips)))
            console.print(f"{results[-1].label}: {wall:.1f} s")
    finally:
        ray.shutdown()
    return results


def time_single(clip: Path, footage_s: float, workdir: Path, sample_fps: float) -> Timed:
    """Wall time of the default path (no Ray) in this process, model load included."""
    from streetwatch.core.settings import Settings
    from streetwatch.pipeline.run import process_videos

    settings = _fresh(workdir, "single", sample_fps)
    assert isinstance(settings, Settings)
    started = time.perf_counter()
    summary = process_videos([clip], settings, progress=False)
    wall = time.perf_counter() - started
    if not summary.processed():
        raise RuntimeError(f"single process: {summary.outcomes}")
    console.print(f"single process: {wall:.1f} s")
    return Timed("one process, no Ray", footage_s, wall)


def bench_ray(
    videos: Annotated[int, typer.Option(min=1, help="Distinct clips in the scaling batch.")] = 4,
    seconds: Annotated[float, typer.Option(min=1.0, help="Length of each scaling clip (1080p30).")] = 30.0,
    workers: Annotated[str, typer.Option(help="Worker counts to compare, comma-separated.")] = "1,2",
    overhead_seconds: Annotated[float, typer.Option(min=1.0, help="Length of the overhead clip (1080p30).")]
    = 60.0,
    sample_fps: Annotated[float, typer.Option(min=0.1, help="Frames analysed per second of video.")] = 5.0,
    skip_scaling: Annotated[bool, typer.Option(help="Only measure the overhead.")] = False,
    skip_overhead: Annotated[bool, typer.Option(help="Only measure the scaling.")] = False,
    workdir: Annotated[Path, typer.Option(help="Where the clips and scratch databases go.")] = Path("var/bench-ray"),
) -> None:
    """Measure the Ray backend on this machine: throughput with 1 and 2 workers, and its overhead.

    Needs `pip install 'streetwatch[ray]'`. Example (about 10 minutes on 2 cores):
    streetwatch bench-ray --videos 4 --seconds 30 --workers 1,2 --overhead-seconds 60
    """
    from streetwatch.cli.bench import load_average, machine_description

    counts = [int(n) for n in workers.split(",") if n.strip()]
    if not counts or min(counts) < 1:
        raise typer.BadParameter("--workers: positive worker counts, e.g. 1,2")
    lines = [f"- machine: {machine_description()}",
             f"- load average (1, 5, 15 min) at start: {load_average()}",
             f"- sampling {sample_fps:g} fps; clips 1920x1080 30 fps H.264, generated (distinct pans over the demo "
             "street photo)"]
    if not skip_scaling:
        clips = bench_clips(workdir, videos, seconds)
        scaling = [time_ray(clips, seconds * len(clips), workdir, workers=n, cpus_per_video=1,
                            sample_fps=sample_fps, label=f"Ray, {n} worker(s) of 1 core")[0] for n in counts]
        lines += ["", f"Scaling: {videos} distinct {seconds:g} s clips per batch, one core per video's task", "",
                  "| workers | ray.init s | batch wall s | footage h per wall h | throughput ratio |",
                  "|---|---|---|---|---|"]
        base = scaling[0].footage_h_per_h
        lines += [f"| {n} | {t.init_s:.1f} | {t.wall_s:.1f} | {t.footage_h_per_h:.2f} | "
                  f"{t.footage_h_per_h / base:.2f} |" for n, t in zip(counts, scaling, strict=True)]
    if not skip_overhead:
        (clip,) = bench_clips(workdir, 1, overhead_seconds)
        cores = os.cpu_count() or 1
        single = time_single(clip, overhead_seconds, workdir, sample_fps)
        cold, warm = time_ray([clip], overhead_seconds, workdir, workers=cores, cpus_per_video=cores,
                              sample_fps=sample_fps, label=f"Ray, one task of {cores} cores", runs=2)
        lines += ["", f"Overhead: one {overhead_seconds:g} s clip, every core", "",
                  "| path | wall s | against one process |", "|---|---|---|",
                  f"| {single.label} (model load included) | {single.wall_s:.1f} | - |",
                  f"| Ray, cold: fresh worker (start, imports, model load); ray.init {cold.init_s:.1f} s not counted "
                  f"| {cold.wall_s:.1f} | {100 * (cold.wall_s / single.wall_s - 1):+.1f} % |",
                  f"| Ray, warm: a second run (worker process and imports reused; model loaded again for the "
                  f"run's new database) | {warm.wall_s:.1f} | "
                  f"{100 * (warm.wall_s / single.wall_s - 1):+.1f} % |"]
    lines += ["", f"- load average at end: {load_average()}"]
    print("\n".join(lines))
