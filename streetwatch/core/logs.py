"""Logs for machines: ``--log-format json`` writes one JSON object per line (stdlib logging).

Each line has ``ts`` (UTC, ISO 8601), ``level``, ``logger`` and ``msg``, plus any ``extra={...}``
fields a call passed (``video``, ``outcome``, ``frames``, ``seconds``, ...), so a log shipper
(Loki, Elasticsearch, CloudWatch) can index them without parsing sentences.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
# Attributes every LogRecord has: anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(fmt: LogFormat = "text", level: int = logging.INFO) -> None:
    """Send streetwatch's logs to stderr, as text or JSON lines (replaces earlier handlers of ours)."""
    root = logging.getLogger("streetwatch")
    for handler in [h for h in root.handlers if getattr(h, "_streetwatch", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._streetwatch = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
