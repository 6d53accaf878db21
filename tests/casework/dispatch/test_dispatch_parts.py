"""The destinations file, the Open311 client, fan-out filters, status/requeue and the CLI."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from streetwatch.casework.dispatch.config import (
    DispatchConfigError,
    DispatchSettings,
    Open311Destination,
    WebhookDestination,
    load_destinations,
)
from streetwatch.casework.dispatch.open311_client import post_service_request, request_form
from streetwatch.casework.dispatch.outbox import enqueue
from streetwatch.casework.dispatch.status import dead_letters, delivery_counts, requeue_dead, undelivered_events
from streetwatch.casework.dispatch.webhook import DeliveryError
from streetwatch.casework.dispatch.worker import DispatchWorker
from streetwatch.cli.dispatch_commands import dispatch_app
from streetwatch.core.vocab import DeliveryStatus
from streetwatch.store.models_outbox import OutboxDelivery, OutboxEvent
from tests.casework.dispatch.receiver import Receiver

HOOK = "  - {name: hook, kind: webhook, url: 'http://127.0.0.1:9/h', secret_env: SW_TEST_SECRET}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("destinations:\n" + HOOK, None),
        ("destinations:\n" + HOOK + HOOK, "names must be unique"),
        ("destinations:\n  - {name: x, kind: smtp, url: 'http://a'}\n", "does not match any of the expected tags"),
        ("destinations:\n  - {name: x, kind: webhook, url: 'ftp://a', secret: s}\n", "url"),
        ("destinations:\n  - {name: x, kind: webhook, url: 'http://a', secret: s, events: ['case.*.x']}\n",
         "events must be exact types"),
        ("destinations:\n  - {name: x, kind: webhook, url: 'http://a', secret_env: SW_UNSET_VAR}\n",
         "SW_UNSET_VAR is not set"),
        ("destinations:\n  - {name: x, kind: open311, endpoint: 'http://a'}\n", "api_key: give either"),
        ("destinations:\n  - {name: x, kind: webhook, url: 'http://a', secret: s, colour: red}\n", "colour"),
        ("destinations: [\n", "not valid YAML"),
    ],
)
def test_destinations_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str | None) -> None:
    monkeypatch.setenv("SW_TEST_SECRET", "from-the-environment")
    monkeypatch.delenv("SW_UNSET_VAR", raising=False)
    path = tmp_path / "dispatch.yaml"
    path.write_text(text, encoding="utf-8")
    if message is None:
        (hook,) = load_destinations(path)
        assert isinstance(hook, WebhookDestination) and hook.resolved_secret() == "from-the-environment"
        assert hook.events == ("*",)
        return
    with pytest.raises(DispatchConfigError, match=message) as caught:
        load_destinations(path)
    assert str(path) in str(caught.value)


def test_missing_destinations_file(tmp_path: Path) -> None:
    with pytest.raises(DispatchConfigError, match="not found"):
        load_destinations(tmp_path / "nope.yaml")


def test_settings_refuse_a_cap_below_the_base() -> None:
    with pytest.raises(ValueError, match="backoff_cap_s"):
        DispatchSettings(backoff_base_s=10, backoff_cap_s=1)


CASE = {"id": 12, "event_code": "0502", "lat": 39.9, "lon": 116.3, "status": "filed"}


@pytest.mark.parametrize(
    ("payload", "options", "expected", "error"),
    [
        ({"case": CASE, "action": "file"}, {}, {"service_code": "0502", "lat": "39.9", "long": "116.3"}, None),
        ({"service_code": "0101", "lat": 1.5, "lon": 2.5, "description": "堆", "address": "路 1 号"}, {},
         {"service_code": "0101", "description": "堆", "address_string": "路 1 号"}, None),
        ({"case": CASE, "evidence_sha256": "ab" * 32}, {"media_base_url": "https://sw.example/"},
         {"media_url": "https://sw.example/evidence/" + "ab" * 32 + "/blurred"}, None),
        ({"case": CASE}, {"jurisdiction_id": "city.gov", "event_id": "E1", "event_id_attribute": "sw_id"},
         {"jurisdiction_id": "city.gov", "attribute[sw_id]": "E1"}, None),
        ({"case": {**CASE, "event_code": None}}, {}, None, "no service_code"),
        ({"case": {**CASE, "lat": None}}, {}, None, "no lat/lon"),
    ],
)
def test_open311_form(payload: dict[str, Any], options: dict[str, Any], expected: dict[str, str] | None,
                      error: str | None) -> None:
    if error is not None:
        with pytest.raises(DeliveryError, match=error) as caught:
            request_form(payload, api_key="k", **options)
        assert caught.value.permanent
        return
    form = request_form(payload, api_key="k", **options)
    assert form["api_key"] == "k"
    assert expected is not None and expected.items() <= form.items()


@pytest.mark.parametrize(
    ("status", "reply", "remote_ref", "permanent"),
    [
        (201, '[{"service_request_id": "SR-7", "service_notice": "ok"}]', "SR-7", None),
        (200, '[{"token": "T-1"}]', "T-1", None),
        (200, "not json", None, None),
        (400, '[{"code": 400, "description": "bad"}]', None, True),
        (503, "down", None, False),
    ],
)
def test_open311_post_to_a_real_receiver(status: int, reply: str, remote_ref: str | None,
                                         permanent: bool | None) -> None:
    receiver = Receiver("unused", status_code=status, open311_reply=reply)
    receiver.start_listening()
    try:
        with httpx.Client(timeout=5) as client:
            if permanent is None:
                result = post_service_request(client, receiver.url + "/open311/v2/", {"case": CASE}, api_key="KEY")
                assert (result.status_code, result.remote_ref) == (status, remote_ref)
            else:
                with pytest.raises(DeliveryError, match=f"HTTP {status}") as caught:
                    post_service_request(client, receiver.url + "/open311/v2", {"case": CASE}, api_key="KEY")
                assert caught.value.permanent is permanent
    finally:
        receiver.close()
    (form,) = receiver.log.forms
    assert form == {"api_key": "KEY", "service_code": "0502", "lat": "39.9", "long": "116.3"}


def _enqueue_mix(factory: sessionmaker[Session]) -> dict[str, str]:
    ids = {}
    with factory.begin() as session:
        for event_type in ("case.filed", "case.closed", "case.reported", "audit.note"):
            ids[event_type] = enqueue(session, event_type=event_type, aggregate_id=1, payload={"t": event_type})
    return ids


def test_fan_out_follows_each_destinations_event_types(db_session_factory: sessionmaker[Session]) -> None:
    ids = _enqueue_mix(db_session_factory)
    future = datetime.now(UTC) + timedelta(days=1)
    destinations = [
        WebhookDestination(kind="webhook", name="all", url="http://127.0.0.1:9", secret="s"),
        WebhookDestination(kind="webhook", name="cases", url="http://127.0.0.1:9", secret="s", events=("case.*",)),
        Open311Destination(kind="open311", name="city311", endpoint="http://127.0.0.1:9", api_key="k"),
        WebhookDestination(kind="webhook", name="later", url="http://127.0.0.1:9", secret="s", since=future),
    ]
    worker = DispatchWorker(db_session_factory, destinations, DispatchSettings(), rng=random.Random(1))
    assert worker.fan_out() == 4 + 3 + 1
    assert worker.fan_out() == 0  # idempotent
    with db_session_factory() as session:
        rows = session.execute(select(OutboxDelivery.destination, OutboxDelivery.event_id)).all()
    by_destination: dict[str, set[str]] = {}
    for destination, event_id in rows:
        by_destination.setdefault(destination, set()).add(event_id)
    assert by_destination == {
        "all": set(ids.values()),
        "cases": {ids["case.filed"], ids["case.closed"], ids["case.reported"]},
        "city311": {ids["case.filed"]},  # an Open311 destination takes filings only by default
    }


def test_status_and_requeue(db_session_factory: sessionmaker[Session]) -> None:
    ids = _enqueue_mix(db_session_factory)
    hook = WebhookDestination(kind="webhook", name="cases", url="http://127.0.0.1:9", secret="s", events=("case.*",))
    DispatchWorker(db_session_factory, [hook], DispatchSettings()).fan_out()
    with db_session_factory.begin() as session:
        session.execute(update(OutboxDelivery).where(OutboxDelivery.event_id != ids["case.filed"])
                        .values(status=DeliveryStatus.DEAD, attempts=10, last_error="HTTP 500"))
    with db_session_factory() as session:
        assert delivery_counts(session) == {("cases", "pending"): 1, ("cases", "dead"): 2}
        assert undelivered_events(session) == 1  # audit.note: no destination wants it
        letters = dead_letters(session)
        assert {d.event_id for d in letters} == {ids["case.closed"], ids["case.reported"]}
        assert all(d.attempts == 10 and d.last_error == "HTTP 500" for d in letters)
    with db_session_factory.begin() as session:
        assert requeue_dead(session, event_ids=[ids["case.closed"]]) == 1
        assert requeue_dead(session, destination="elsewhere") == 0
    with db_session_factory() as session:
        assert delivery_counts(session) == {("cases", "pending"): 2, ("cases", "dead"): 1}
        requeued = session.scalars(select(OutboxDelivery).where(OutboxDelivery.event_id == ids["case.closed"])).one()
        assert requeued.attempts == 0


def test_cli_runs_once_and_reports(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   db_session_factory: sessionmaker[Session]) -> None:
    receiver = Receiver("cli-secret")
    receiver.start_listening()
    try:
        with db_session_factory.begin() as session:
            event_id = enqueue(session, event_type="case.filed", aggregate_id=3, payload={"case_id": 3})
        config = tmp_path / "dispatch.yaml"
        config.write_text(f"destinations:\n  - {{name: hook, kind: webhook, url: '{receiver.url}/h', "
                          "secret_env: SW_CLI_SECRET}\n", encoding="utf-8")
        monkeypatch.setenv("SW_CLI_SECRET", "cli-secret")
        runner = CliRunner()
        done = runner.invoke(dispatch_app, ["run", "--db", db_url, "--destinations", str(config), "--once"])
        assert done.exit_code == 0, done.output
        assert "delivered 1" in done.output
        shown = runner.invoke(dispatch_app, ["status", "--db", db_url])
        assert shown.exit_code == 0, shown.output
        assert "hook" in shown.output and "1" in shown.output
        missing = runner.invoke(dispatch_app, ["run", "--db", db_url, "--destinations", str(tmp_path / "x.yaml")])
        assert missing.exit_code == 2 and "not found" in missing.output
    finally:
        receiver.close()
    assert receiver.log.applied == [event_id]
    with db_session_factory() as session:
        assert session.scalars(select(OutboxEvent.event_id)).all() == [event_id]
