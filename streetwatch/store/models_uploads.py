"""Files cars sent over the network (``POST /uploads``): one row per accepted file.

A row is written once the file is whole and hashes to the sha256 the car declared, and never
changes. ``(sha256, video_sha256)`` is unique: a video is its own ``video_sha256``, a GPS sidecar
names the video it belongs to, so sending the same file again finds its row (the upload is
idempotent) and the same GPS log may belong to two videos.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from streetwatch.core.vocab import UploadKind
from streetwatch.store.column_types import StrEnumType, UtcDateTime
from streetwatch.store.models import Base, utcnow


class Upload(Base):
    """One accepted upload."""

    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("sha256", "video_sha256", name="uq_uploads_sha256_video"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[UploadKind] = mapped_column(StrEnumType(UploadKind, 16))
    # The video the file is (a video) or belongs to (a GPS sidecar).
    video_sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))   # the car's name for it
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)              # where it was put, relative to the uploads folder
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
