"""The options ``process`` and ``watch`` share for running at scale: Ray, metrics, JSON logs, device.

``--ray local|ADDRESS`` runs each video as a Ray task (``streetwatch.pipeline.fleet``);
``--metrics-port N`` serves Prometheus metrics from this process; ``--log-format json`` writes one
JSON object per log line. Kept apart from ``main.py`` so the commands only gain a few lines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from streetwatch.core.settings import Settings
    from streetwatch.pipeline.fleet import RayFleet
    from streetwatch.pipeline.metrics import PipelineMetrics
    from streetwatch.pipeline.outcomes import Outcome, RunSummary
    from streetwatch.pipeline.shadow import ShadowModel

log = logging.getLogger("streetwatch.outcomes")

RayOption = Annotated[str | None, typer.Option(
    "--ray", help="Run each video as a Ray task: 'local' starts Ray on this machine (all cores, or --ray-cpus), "
                  "an address (10.0.0.5:6379, from `ray start --head`) joins a cluster. Needs "
                  "`pip install 'streetwatch\\[ray]'`. Default: one process, no Ray.")]
RayCpusOption = Annotated[int | None, typer.Option(
    "--ray-cpus", min=1, help="Cores of a local Ray instance (default: all); with --ray local only.")]
CpusPerVideoOption = Annotated[int, typer.Option(
    "--cpus-per-video", min=1, help="Cores each video's Ray task takes (its detector's threads).")]
GpusPerVideoOption = Annotated[float | None, typer.Option(
    "--gpus-per-video", min=0.0, help="GPU share of each video's Ray task (default: 0.25 with --device cuda, else 0).")]
DetectorActorsOption = Annotated[int | None, typer.Option(
    "--detector-actors", min=0, max=64, help="With --ray: shared detectors that batch the frames of every video in "
                                             "flight (one per GPU with --device cuda). Default: 0, each video's "
                                             "task runs its own detector (best on CPUs).")]
MetricsPortOption = Annotated[int | None, typer.Option(
    "--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on this port (/metrics): videos, frames, "
                                             "detector latency, and the database's backlog.")]
LogFormatOption = Annotated[str, typer.Option(
    "--log-format", help="Logs on stderr as 'text' or 'json' (one object per line, for log shippers).")]
DeviceOption = Annotated[str | None, typer.Option(
    help="Where the detector runs: auto (CUDA when usable), cpu, cuda, cuda:N (default: cpu). CUDA: fp16, batches "
         "of 32, NVDEC decoding through PyAV's FFmpeg (CPU decoding if the GPU cannot decode).")]


def setup_logging(log_format: str) -> None:
    """JSON lines on stderr with ``json``; ``text`` leaves logging as it was (warnings only, the console
    lines carry the rest)."""
    from streetwatch.core.logs import configure_logging

    if log_format not in ("text", "json"):
        raise typer.BadParameter(f"--log-format must be text or json, got {log_format!r}")
    if log_format == "json":
        configure_logging("json")


def start_metrics(settings: Settings, port: int | None) -> PipelineMetrics:
    """The run's metrics; served on ``port`` (with the database's backlog) when one is given."""
    from streetwatch.pipeline.metrics import PipelineMetrics

    metrics = PipelineMetrics()
    if port is not None:
        from streetwatch.store.db import make_engine, make_session_factory, upgrade

        upgrade(settings.db_url)
        engine = make_engine(settings.db_url, busy_timeout_s=settings.db_busy_timeout_s)
        metrics.watch_backlog(make_session_factory(engine, audit_anchor=False), settings.claim_stale_after_s)
        metrics.serve(port)
        log.info("metrics on http://0.0.0.0:%d/metrics", port, extra={"metrics_port": port})
    return metrics


def log_outcome(outcome: Outcome) -> None:
    """One structured log record per video (its fields are JSON keys with --log-format json)."""
    from streetwatch.pipeline.watch import outcome_kind, outcome_message

    log.info("%s %s: %s", outcome_kind(outcome), outcome.path.name, outcome_message(outcome),
             extra={"video": str(outcome.path), "outcome": str(outcome_kind(outcome)),
                    "video_id": getattr(outcome, "video_id", None), "frames": getattr(outcome, "frames", None),
                    "seconds": getattr(outcome, "seconds", None)})


def ray_fleet(settings: Settings, address: str, metrics: PipelineMetrics, *, num_cpus: int | None,
              cpus_per_video: int, gpus_per_video: float | None,
              on_outcome: Callable[[Outcome], None]) -> RayFleet:
    """A Ray fleet whose finished videos feed the metrics and the report."""
    from streetwatch.pipeline.fleet import RayFleet, TaskReport

    def reported(report: TaskReport) -> None:
        metrics.detected_all(report.batches)
        metrics.outcome(report.outcome)
        on_outcome(report.outcome)

    if gpus_per_video is None:
        gpus_per_video = 0.25 if settings.device.startswith("cuda") else 0.0
    return RayFleet(settings, address, num_cpus=num_cpus, cpus_per_video=cpus_per_video,
                    gpus_per_video=gpus_per_video, on_report=reported, detector_actors=settings.detector_actors)


def ray_batch(fleet: RayFleet, metrics: PipelineMetrics) -> Callable[[list[Path]], list[Outcome]]:
    """The watcher's ``process_batch``: a poll's ready videos, counted as queued, to Ray together."""
    def process(videos: list[Path]) -> list[Outcome]:
        metrics.queued(len(videos))
        return fleet.process(videos)

    return process


def run_videos(paths: Sequence[Path], settings: Settings, gps: Path | None, *, progress: bool,
               on_outcome: Callable[[Outcome], None], shadow: ShadowModel | None, ray: str | None,
               metrics: PipelineMetrics, **ray_options: Any) -> RunSummary:
    """``process``'s batch: one process (the default), or Ray tasks with ``ray``."""
    from streetwatch.pipeline.run import process_videos

    metrics.queued(len(paths))

    def reported(outcome: Outcome) -> None:
        log_outcome(outcome)
        on_outcome(outcome)

    if ray is None:
        def counted(outcome: Outcome) -> None:
            metrics.outcome(outcome)
            reported(outcome)

        return process_videos(paths, settings, gps, progress=progress, on_outcome=counted, shadow=shadow,
                              on_detect=metrics.detected)
    if shadow is not None:
        raise typer.BadParameter("--shadow-model runs in one process: leave out --ray")
    return ray_fleet(settings, ray, metrics, on_outcome=reported, **ray_options).run(paths, gps)
