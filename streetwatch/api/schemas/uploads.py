"""What ``POST /uploads`` answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from streetwatch.core.vocab import UploadKind


class UploadPublic(BaseModel):
    """An accepted upload (201 the first time, 200 when the same file was accepted before)."""

    id: int = Field(description="The upload's id: the same for every upload of the same file.")
    sha256: str = Field(description="The file's sha256, lowercase hex, as the client declared and the server checked.")
    kind: UploadKind = Field(description="video, or gps (a GPS sidecar of a video).")
    video_sha256: str = Field(description="The video the file is (its own sha256) or belongs to (a sidecar).")
    filename: str = Field(description="The client's name for the file, as first uploaded.")
    size_bytes: int
    uploaded_by: str
    stored_as: str = Field(description="Where it was put, relative to the uploads folder the watcher processes.")
    created_at: datetime
    created: bool = Field(description="True if this request stored the file; false if it was there already.")
