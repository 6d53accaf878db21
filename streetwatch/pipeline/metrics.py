"""Prometheus metrics of the footage pipeline and the fleet's backlog.

Counters and a histogram live in a :class:`PipelineMetrics` (its own registry, so tests and two
runs in one process never share numbers): videos queued, processed, skipped and failed (rejected
files counted as failed, with ``reason``), frames and footage seconds analysed (rates come from the
counters: ``rate(streetwatch_frames_processed_total[5m])`` is frames/s), and the detector's latency
per batch. The backlog gauges are read from the database on each scrape (:class:`BacklogCollector`):
videos by status, stale claims, review queue depth and the dispatch outbox.

``streetwatch process|watch --metrics-port N`` serve them from the worker; the API serves the same at
``GET /metrics`` (see docs/scaling.md). Under Ray the detector runs in the Ray workers: each video's
task hands its batch timings back with its outcome, and the driver observes them here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streetwatch.pipeline.outcomes import Failed, Held, Outcome, Processed, Rejected, Skipped
from streetwatch.store.backlog import Backlog, read_backlog
from streetwatch.store.db import SessionFactory

# Detector latency per batch: 5 ms (a GPU batch) to 30 s (a big batch on a busy CPU).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PipelineMetrics:
    """The pipeline's counters and histogram, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.videos_queued = Counter("streetwatch_videos_queued", "Videos handed to processing.", registry=r)
        self.videos_processed = Counter("streetwatch_videos_processed", "Videos whose results were committed.",
                                        registry=r)
        self.videos_skipped = Counter("streetwatch_videos_skipped", "Videos already processed (same content) "
                                      "or held by another worker.", registry=r)
        self.videos_failed = Counter("streetwatch_videos_failed", "Videos rejected (unusable file or GPS) or "
                                     "failed while processing.", ["reason"], registry=r)
        self.frames = Counter("streetwatch_frames_processed", "Sampled frames run through the detector.", registry=r)
        self.footage_seconds = Counter("streetwatch_footage_seconds", "Seconds of footage of processed videos.",
                                       registry=r)
        self.detector_latency = Histogram("streetwatch_detector_latency_seconds", "Wall time of one detector call "
                                          "(one batch of frames).", buckets=LATENCY_BUCKETS, registry=r)

    def queued(self, n: int = 1) -> None:
        self.videos_queued.inc(n)

    def detected(self, frames: int, seconds: float) -> None:
        """One detector call: ``frames`` frames in ``seconds``."""
        self.frames.inc(frames)
        self.detector_latency.observe(seconds)

    def detected_all(self, batches: Iterable[tuple[int, float]]) -> None:
        for frames, seconds in batches:
            self.detected(frames, seconds)

    def outcome(self, outcome: Outcome, footage_s: float | None = None) -> None:
        """Count one video's outcome (with its footage length, when known)."""
        if isinstance(outcome, Processed):
            self.videos_processed.inc()
            if footage_s:
                self.footage_seconds.inc(footage_s)
        elif isinstance(outcome, Skipped | Held):
            self.videos_skipped.inc()
        elif isinstance(outcome, Rejected):
            self.videos_failed.labels(reason=outcome.reason).inc()
        elif isinstance(outcome, Failed):
            self.videos_failed.labels(reason="failed").inc()

    def watch_backlog(self, sessions: SessionFactory, stale_after_s: float) -> None:
        """Also report the database's backlog, read on each scrape."""
        self.registry.register(BacklogCollector(sessions, stale_after_s))

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Serve ``/metrics`` on ``port`` from a daemon thread (Prometheus' text format)."""
        start_http_server(port, addr=addr, registry=self.registry)


class BacklogCollector(Collector):
    """Gauges of the backlog, read from the database when scraped.

    A database that does not answer leaves the gauges out of that scrape (``streetwatch_backlog_up`` 0)
    rather than failing it: the counters still come through.
    """

    def __init__(self, sessions: SessionFactory, stale_after_s: float,
                 read: Callable[[SessionFactory, float], Backlog] | None = None) -> None:
        self.sessions = sessions
        self.stale_after_s = stale_after_s
        self._read = read or _read

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("streetwatch_backlog_up", "1 when the backlog could be read from the database.")
        try:
            backlog = self._read(self.sessions, self.stale_after_s)
        except Exception:   # a scrape must not fail with the database: say so instead
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from backlog_gauges(backlog)


def backlog_gauges(backlog: Backlog) -> Sequence[Metric]:
    """The backlog as Prometheus gauges."""
    videos = GaugeMetricFamily("streetwatch_videos", "Videos in the database by processing status.",
                               labels=["status"])
    for status, count in sorted(backlog.videos.items()):
        videos.add_metric([status], count)
    return [
        videos,
        GaugeMetricFamily("streetwatch_stale_claims", "Videos claimed by a worker that stopped heartbeating.",
                          value=backlog.stale_claims),
        GaugeMetricFamily("streetwatch_review_queue_depth", "Violations pending review.",
                          value=backlog.review_pending),
        GaugeMetricFamily("streetwatch_review_queue_leased", "Pending violations a reviewer holds a lease on.",
                          value=backlog.review_leased),
        GaugeMetricFamily("streetwatch_outbox_depth", "Dispatch deliveries not delivered yet.",
                          value=backlog.outbox_pending),
        GaugeMetricFamily("streetwatch_outbox_dead", "Dispatch deliveries given up on (dead letters).",
                          value=backlog.outbox_dead),
    ]


def _read(sessions: SessionFactory, stale_after_s: float) -> Backlog:
    with sessions() as session:
        return read_backlog(session, stale_after_s=stale_after_s)
