"""Videos: the footage processed, and how processing went.

A patrol crosses many units' areas, so videos are not routed to a unit: reviewers, supervisors
and admins only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from streetwatch.api.auth import ALL_UNITS_ROLES, require_roles
from streetwatch.api.deps import SessionDep
from streetwatch.api.schemas import DbId, ErrorPublic, VideoPublic, VideosPage, VideosQuery
from streetwatch.store import queries

router = APIRouter(prefix="/videos", tags=["videos"], dependencies=[Depends(require_roles(*ALL_UNITS_ROLES))])


@router.get(
    "",
    summary="List videos",
    response_model=VideosPage,
    responses={400: {"model": ErrorPublic, "description": "A cursor this API did not produce."}},
)
def list_videos(session: SessionDep, query: Annotated[VideosQuery, Query()]) -> VideosPage:
    """Videos newest first with their processing status (processing, done, failed), counts and error."""
    rows, next_cursor = queries.list_videos(
        session, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return VideosPage(items=[VideoPublic.from_row(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{video_id}",
    summary="Read one video",
    response_model=VideoPublic,
    responses={404: {"model": ErrorPublic, "description": "No video has this id."}},
)
def get_video(session: SessionDep, video_id: Annotated[DbId, Path(description="The video's id.")]) -> VideoPublic:
    """One video with its processing status, counts and error."""
    row = queries.get_video(session, video_id)
    if row is None:
        raise HTTPException(404, f"video {video_id} not found")
    return VideoPublic.from_row(row)
