"""``GET /metrics``: the fleet's backlog in Prometheus' text format, for a Prometheus server to scrape.

Gauges only (videos by status, stale claims, review queue depth, outbox depth: see
:mod:`streetwatch.pipeline.metrics`), read from the database on each scrape; the workers' own
counters (videos, frames, detector latency) come from ``process|watch --metrics-port``. Counts only,
no case data: it needs no sign-in, like ``/health``; keep it inside the network Prometheus scrapes
from (docs/scaling.md). Left out of the OpenAPI document: it is not JSON.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streetwatch.api.deps import get_session_factory
from streetwatch.pipeline.metrics import BacklogCollector

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The backlog gauges, in Prometheus' text exposition format."""
    registry = CollectorRegistry()
    registry.register(BacklogCollector(get_session_factory(request), request.app.state.settings.claim_stale_after_s))
    body = await anyio.to_thread.run_sync(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
