"""``--log-format json``: one JSON object per line, with the fields a call passed."""

from __future__ import annotations

import json
import logging

import pytest

from streetwatch.core.logs import configure_logging


def test_json_lines_carry_the_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    try:
        log = logging.getLogger("streetwatch.outcomes")
        log.info("processed %s", "a.mp4", extra={"video": "/depot/a.mp4", "frames": 300, "seconds": 15.9})
        try:
            raise ValueError("broken")
        except ValueError:
            log.exception("failed b.mp4")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        configure_logging("text")
    assert [line["msg"] for line in lines] == ["processed a.mp4", "failed b.mp4"]
    first = lines[0]
    assert (first["level"], first["logger"], first["video"], first["frames"], first["seconds"]) == (
        "info", "streetwatch.outcomes", "/depot/a.mp4", 300, 15.9)
    assert first["ts"].endswith("+00:00") and "ValueError: broken" in lines[1]["exc"]


def test_configuring_again_replaces_the_handler_instead_of_doubling_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text")
    configure_logging("text")
    logging.getLogger("streetwatch.x").warning("once")
    assert capsys.readouterr().err.count("once") == 1
