"""Uploads: cars send their footage (and its GPS sidecar) over the network.

``POST /uploads?filename=20261202-0930.mp4`` with the file as the raw request body
(``Content-Type: application/octet-stream``), its ``Content-Length`` and its sha256 in
``X-Content-SHA256``, authenticated as a user with the ``uploader`` role (a car's API key,
``X-API-Key``) or an admin. A GPS sidecar goes the same way with its own name (``.gpx``, ``.nmea``,
``.csv``, ``.srt``) and ``video_sha256=<the video's sha256>``; send it first, so that the watcher
finds it beside the video when the video arrives.

The body is streamed to a hidden temporary file under the uploads folder (``Settings.uploads_dir``;
``streetwatch watch`` skips hidden files), hashed on the way, and moved into place only when it
is whole and hashes to the declared sha256. Files are named by content: a video goes to
``<uploads>/<ab>/<sha256>/<sha256>.mp4``, its sidecar beside it as ``<sha256>.gpx``, so the watcher
processes the video with its GPS once the folder is quiet. Refused, with nothing kept:

* no credentials, or a bad key: 401; a user without the uploader role: 403;
* no ``Content-Length`` (a chunked body): 411; more than ``upload_max_bytes``: 413, before a byte
  is read (the API's 1 MiB limit for other requests does not apply here);
* bytes that do not hash to ``X-Content-SHA256`` (a body cut short or damaged): 400. A client that
  hangs up before sending ``Content-Length`` bytes gets no answer; its partial file is removed.

The same file again is idempotent: 200 with the first upload's id (201 the first time).
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path as FilePath
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from streetwatch.api.auth import UploaderUser
from streetwatch.api.deps import SessionDep, SettingsDep
from streetwatch.api.errors import unprocessable
from streetwatch.api.schemas import ErrorPublic
from streetwatch.api.schemas.uploads import UploadPublic
from streetwatch.core.vocab import UploadKind
from streetwatch.pipeline.gps.media import VIDEO_SUFFIXES
from streetwatch.pipeline.gps.source import SIDECAR_SUFFIXES
from streetwatch.store.evidence import file_sha256
from streetwatch.store.models_uploads import Upload
from streetwatch.store.uploads import UploadFacts, record_upload

router = APIRouter(prefix="/uploads", tags=["uploads"])
log = logging.getLogger(__name__)

SHA256_PATTERN = r"^[0-9a-f]{64}$"
INCOMING = ".incoming"  # hidden: the watcher never sees a file being received
LIMIT_SETTING = "STREETWATCH_UPLOAD_MAX_BYTES"
_WRITE_BLOCK = 4 << 20  # bytes gathered before each write (and hash) in a worker thread


def _kind_of(filename: str, video_sha256: str | None, sha256: str) -> tuple[UploadKind, str, str]:
    """The file's kind, the video it belongs to, and its suffix; 422 (FastAPI's shape) for anything else."""
    suffix = FilePath(filename).suffix.lower()
    if FilePath(filename).name != filename or filename.startswith(".") or not suffix:
        raise unprocessable(f"filename {filename!r} must be a plain file name with a suffix, e.g. clip.mp4",
                            "query", "filename", value=filename)
    if suffix in VIDEO_SUFFIXES:
        if video_sha256 not in (None, sha256):
            raise unprocessable("video_sha256 is for a GPS sidecar; a video is its own (leave it out)",
                                "query", "video_sha256", value=video_sha256)
        return UploadKind.VIDEO, sha256, suffix
    if suffix in SIDECAR_SUFFIXES:
        if video_sha256 is None:
            raise unprocessable(f"a GPS sidecar ({suffix}) needs video_sha256: the sha256 of its video",
                                "query", "video_sha256")
        return UploadKind.GPS, video_sha256, suffix
    raise unprocessable(f"{suffix} is neither a video ({', '.join(sorted(VIDEO_SUFFIXES))}) nor a GPS "
                        f"sidecar ({', '.join(SIDECAR_SUFFIXES)})", "query", "filename", value=filename)


async def _receive(request: Request, target: FilePath, declared: int, limit: int) -> tuple[str, int]:
    """Stream the body into ``target``; its sha256 and size. The caller removes it on failure."""
    digest, size, pending = hashlib.sha256(), 0, bytearray()
    handle = await anyio.to_thread.run_sync(target.open, "wb")

    def write(block: bytes) -> None:  # in a worker thread: hashing and writing release the GIL
        digest.update(block)
        handle.write(block)

    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > min(declared, limit):  # the server holds the client to its length; this is a backstop
                raise HTTPException(413, f"the upload is larger than its Content-Length or the limit of {limit} "
                                         f"bytes ({LIMIT_SETTING})")
            pending += chunk
            if len(pending) >= _WRITE_BLOCK:  # a thread hop per server chunk (~64 KiB) would cost more
                await anyio.to_thread.run_sync(write, bytes(pending))
                pending.clear()
        await anyio.to_thread.run_sync(write, bytes(pending))
        await anyio.to_thread.run_sync(handle.flush)
        await anyio.to_thread.run_sync(os.fsync, handle.fileno())
    finally:
        await anyio.to_thread.run_sync(handle.close)
    return digest.hexdigest(), size


def _put_in_place(partial: FilePath, target: FilePath, sha256: str) -> None:
    """Move the received file to its place, unless the same bytes are there already.

    The rename is atomic: the watcher sees the file whole or not at all. An intact copy is left
    alone (its modification time too, so the watcher does not take it for a new file); a damaged
    one is replaced.
    """
    if target.is_file() and file_sha256(target) == sha256:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)


@router.post(
    "",
    summary="Upload a video or its GPS sidecar",
    status_code=201,
    response_model=UploadPublic,
    openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}}},
    responses={
        200: {"model": UploadPublic, "description": "The same file was uploaded before: its upload, unchanged."},
        400: {"model": ErrorPublic, "description": "The bytes received do not hash to X-Content-SHA256 (cut short "
                                                   "or damaged); nothing was kept."},
        411: {"model": ErrorPublic, "description": "No Content-Length."},
        413: {"model": ErrorPublic, "description": "Larger than the upload limit; refused before it is read."},
    },
)
async def upload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: UploaderUser,
    filename: Annotated[str, Query(min_length=1, max_length=255, description="The file's name on the car; its "
                                   "suffix says what it is (.mp4, .mov, ... or .gpx, .nmea, .csv, .srt).")],
    x_content_sha256: Annotated[str, Header(pattern=SHA256_PATTERN, description="sha256 of the whole file, "
                                            "lowercase hex.")],
    video_sha256: Annotated[str | None, Query(pattern=SHA256_PATTERN, description="For a GPS sidecar: the "
                                              "sha256 of the video it belongs to.")] = None,
    content_length: Annotated[int | None, Header(ge=0)] = None,
) -> JSONResponse:
    """Store the file once it is whole and hashes to `X-Content-SHA256`; see the module docstring."""
    sha256 = x_content_sha256
    kind, video, suffix = _kind_of(filename, video_sha256, sha256)
    limit = settings.upload_max_bytes
    if content_length is None:
        raise HTTPException(411, "send the file with a Content-Length (chunked uploads are not taken)")
    if content_length > limit:
        raise HTTPException(413, f"the file has {content_length} bytes, more than the upload limit of {limit} "
                                 f"bytes ({LIMIT_SETTING})", headers={"Connection": "close"})
    root = settings.uploads_dir
    relative = FilePath(video[:2]) / video / f"{video}{suffix}"
    incoming = root / INCOMING
    await anyio.to_thread.run_sync(lambda: incoming.mkdir(parents=True, exist_ok=True))
    partial = incoming / f"{uuid.uuid4().hex}.part"
    try:
        actual, size = await _receive(request, partial, content_length, limit)
        if size != content_length or actual != sha256:
            raise HTTPException(400, f"the upload is incomplete or damaged: received {size} of {content_length} "
                                     f"bytes, hashing to {actual}, not the declared X-Content-SHA256 {sha256}; "
                                     "nothing was kept: send the whole file again")
        target = root / relative
        await anyio.to_thread.run_sync(_put_in_place, partial, target, sha256)
    except ClientDisconnect:
        log.warning("upload of %s (%s) by %s cut off by the client; partial file removed", filename, sha256,
                    user.username)
        raise HTTPException(400, "the client hung up before sending the whole file; nothing was kept") from None
    finally:
        partial.unlink(missing_ok=True)
    facts = UploadFacts(sha256=sha256, kind=kind, video_sha256=video, filename=filename, size_bytes=size,
                        uploaded_by=user.username, path=relative.as_posix())
    row, created = await anyio.to_thread.run_sync(record_upload, session, facts)
    body = _public(row, created)
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if created else 200)


def _public(row: Upload, created: bool) -> UploadPublic:
    return UploadPublic(id=row.id, sha256=row.sha256, kind=row.kind, video_sha256=row.video_sha256,
                        filename=row.filename, size_bytes=row.size_bytes, uploaded_by=row.uploaded_by,
                        stored_as=row.path, created_at=row.created_at, created=created)
