"""Health: does the API answer, and can it reach its database.

The check runs on a thread of its own (two at most), not on the pool the routes share: when a
frozen database holds every request thread for its timeout, ``/health`` still answers, and says so.
"""

from __future__ import annotations

from typing import Final

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from streetwatch.api.deps import get_session_factory
from streetwatch.api.errors import RETRY_AFTER_S
from streetwatch.api.schemas import HealthPublic
from streetwatch.store import queries
from streetwatch.store.db import SessionFactory

router = APIRouter(tags=["health"])
_CHECKS: Final = CapacityLimiter(2)


def _ping(factory: SessionFactory) -> str | None:
    with factory() as session:
        return queries.ping(session)


@router.get(
    "/health",
    summary="Health check",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The database does not answer (down, frozen, or its "
                                                           "connections all busy); `db` says what happened.",
                     "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}}},
)
async def health(request: Request) -> HealthPublic | JSONResponse:
    """`{"status": "ok", "db": "ok"}` when the database answers; 503 with `Retry-After` and the error otherwise.

    Bounded in time: connecting and pinging the database have timeouts (`STREETWATCH_DB_*_TIMEOUT_S`).
    """
    problem = await anyio.to_thread.run_sync(_ping, get_session_factory(request), limiter=_CHECKS)
    if problem is not None:
        body = HealthPublic(status="error", db=problem)
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
    return HealthPublic(status="ok", db="ok")
