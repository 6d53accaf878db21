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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median
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


def footage_seconds(path: Path) -> float:
    """A video's duration, as the pipeline probes it."""
    from streetwatch.pipeline.ingest import IngestError, probe_video

    info = probe_video(path)
    if isinstance(info, IngestError):
        raise typer.BadParameter(f"{path}: {info.message}")
    return info.duration_s


def _fresh(workdir: Path, name: str, sample_fps: float) -> object:
    import shutil

    from streetwatch.core.settings import get_settings

    run_dir = workdir / name
    shutil.rmtree(run_dir, ignore_errors=True)
    return get_settings(db_url=f"sqlite:///{(run_dir / 'streetwatch.db').absolute()}",
                        evidence_dir=run_dir / "evidence", sample_fps=sample_fps)


def time_ray(clips: list[Path], footage_s: float, workdir: Path, *, workers: int, cpus_per_video: int,
             sample_fps: float, label: str, runs: int = 1,
             before_each: Callable[[int], None] | None = None) -> list[Timed]:
    """Wall time of ``runs`` batches on one fresh local Ray instance of ``workers`` cores.

    ``before_each(run)`` runs before each batch, with Ray up and idle (the overhead bench times the
    single-process path there, so the two alternate under the same load).
    """
    import ray

    from streetwatch.core.settings import Settings
    from streetwatch.pipeline.fleet import RayFleet, start_ray

    started = time.perf_counter()
    start_ray("local", num_cpus=workers)
    init_s = time.perf_counter() - started
    results = []
    try:
        for run in range(runs):
            if before_each is not None:
                before_each(run)
            settings = _fresh(workdir, f"ray-{workers}w-{run}", sample_fps)
            assert isinstance(settings, Settings)
            fleet = RayFleet(settings, "local", cpus_per_video=cpus_per_video)
            started = time.perf_counter()
            summary = fleet.run(clips)
            wall = time.perf_counter() - started
            if len(summary.processed()) != len(clips):
                raise RuntimeError(f"{label}: not every clip was processed: {summary.outcomes}")
            results.append(Timed(f"{label}, run {run + 1}", footage_s, wall, init_s, len(clips)))
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
    clip: Annotated[list[Path] | None, typer.Option(
        help="Bench the scaling on these videos (repeatable; distinct content) instead of generated clips.")] = None,
    overhead_clip: Annotated[Path | None, typer.Option(
        help="Measure the overhead on this video instead of a generated one (e.g. `bench`'s 60 s clip).")] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Rounds of each measurement (medians are reported).")] = 1,
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
             f"- sampling {sample_fps:g} fps; generated clips are 1920x1080 30 fps H.264 (distinct pans over the "
             "demo street photo)"]
    if not skip_scaling:
        clips = list(clip) if clip else bench_clips(workdir, videos, seconds)
        footage = sum(footage_seconds(c) for c in clips)
        runs: dict[int, list[Timed]] = {n: [] for n in counts}
        for _ in range(repeats):   # worker counts alternate, so a change of load hits them alike
            for n in counts:
                runs[n] += time_ray(clips, footage, workdir, workers=n, cpus_per_video=1, sample_fps=sample_fps,
                                    label=f"Ray, {n} worker(s) of 1 core")
        lines += ["", f"Scaling: {len(clips)} distinct clips per batch ({footage:.1f} s of footage: "
                  f"{', '.join(c.name for c in clips)}), one core per video's task, {repeats} round(s) "
                  "alternating the worker counts", "",
                  "| workers | ray.init s | batch wall s, each round | median | footage h per wall h | "
                  "throughput ratio |", "|---|---|---|---|---|---|"]
        base = footage / median(t.wall_s for t in runs[counts[0]])
        for n in counts:
            wall = median(t.wall_s for t in runs[n])
            lines.append(f"| {n} | {median(t.init_s for t in runs[n]):.1f} | "
                         f"{', '.join(f'{t.wall_s:.1f}' for t in runs[n])} | {wall:.1f} | {footage / wall:.2f} | "
                         f"{footage / wall / base:.2f} |")
    if not skip_overhead:
        (one,) = [overhead_clip] if overhead_clip else bench_clips(workdir, 1, overhead_seconds)
        length = footage_seconds(one)
        cores = os.cpu_count() or 1
        singles: list[Timed] = []
        rays = time_ray([one], length, workdir, workers=cores, cpus_per_video=cores, sample_fps=sample_fps,
                        label=f"Ray, one task of {cores} cores", runs=repeats + 1,
                        before_each=lambda run: singles.append(time_single(one, length, workdir, sample_fps))
                        if run < repeats else None)
        cold, warm = rays[0], rays[1:]
        single = median(t.wall_s for t in singles)
        warm_s = median(t.wall_s for t in warm)
        lines += ["", f"Overhead: {one.name} ({length:.1f} s), every core; one-process and Ray runs alternate "
                  f"({repeats} of each after the cold Ray run)", "",
                  "| path | wall s, each run | median | against one process |", "|---|---|---|---|",
                  f"| one process, no Ray (model load included) | {', '.join(f'{t.wall_s:.1f}' for t in singles)} "
                  f"| {single:.1f} | - |",
                  f"| Ray, cold: fresh worker (start, imports, model load); ray.init {cold.init_s:.1f} s not counted "
                  f"| {cold.wall_s:.1f} | {cold.wall_s:.1f} | {100 * (cold.wall_s / single - 1):+.1f} % |",
                  f"| Ray, warm: worker process and imports reused (model loaded again for each run's new "
                  f"database) | {', '.join(f'{t.wall_s:.1f}' for t in warm)} | {warm_s:.1f} | "
                  f"{100 * (warm_s / single - 1):+.1f} % |"]
    lines += ["", f"- load average at end: {load_average()}"]
    print("\n".join(lines))
