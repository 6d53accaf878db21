"""Fixtures shared by every test package: databases (SQLite and a real PostgreSQL) and video files."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")

from tests.db_fixtures import *  # noqa: F403
from tests.s3_fixtures import *  # noqa: F403
from tests.video_fixtures import *  # noqa: F403
