"""Health: does the API answer, and can it reach its database."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from streetwatch.api.deps import SessionDep
from streetwatch.api.schemas import HealthPublic
from streetwatch.store import queries

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Health check",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The database does not answer."}},
)
def health(session: SessionDep) -> HealthPublic | JSONResponse:
    """`{"status": "ok", "db": "ok"}` when the database answers; 503 with the error otherwise."""
    problem = queries.ping(session)
    if problem is not None:
        body = HealthPublic(status="error", db=problem)
        return JSONResponse(body.model_dump(), status_code=503)
    return HealthPublic(status="ok", db="ok")
