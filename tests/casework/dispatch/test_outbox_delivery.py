"""The outbox delivered for real: a receiver on 127.0.0.1 that is down, then up; two workers.

Every test is bounded: workers run with ``max_seconds`` and a stop event, waits poll with
deadlines, and the whole module finishes in well under 30 s per backend.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from streetwatch.casework.dispatch.config import DispatchSettings, WebhookDestination
from streetwatch.casework.dispatch.outbox import enqueue
from streetwatch.casework.dispatch.worker import DispatchWorker, RetryPolicy, WorkerStats
from streetwatch.core.vocab import DeliveryStatus
from streetwatch.store.models_outbox import OutboxDelivery, OutboxEvent
from tests.casework.dispatch.receiver import Receiver

SECRET = "test-secret-0123456789abcdef"
N_EVENTS = 30


def fast_settings(**overrides: object) -> DispatchSettings:
    values: dict[str, object] = {"backoff_base_s": 0.05, "backoff_cap_s": 0.4, "max_attempts": 200,
                                 "batch_size": 4, "poll_interval_s": 0.02, "lease_s": 30.0}
    values.update(overrides)
    return DispatchSettings(**values)  # type: ignore[arg-type]


def webhook(receiver: Receiver, name: str = "hook", timeout_s: float = 5.0) -> WebhookDestination:
    return WebhookDestination(kind="webhook", name=name, url=receiver.url + "/hook", secret=SECRET,
                              timeout_s=timeout_s)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def enqueue_committed(factory: sessionmaker[Session], count: int) -> list[str]:
    """Enqueue ``count`` events, each in its own committed transaction, each enqueued twice (a retry)."""
    ids = []
    for case_id in range(1, count + 1):
        for _retry in range(2):
            with factory.begin() as session:
                event_id = enqueue(session, event_type="case.filed", aggregate_id=case_id,
                                   payload={"case_id": case_id, "service_code": "0502", "lat": 31.2, "lon": 121.4})
        ids.append(event_id)
    return ids


def run_workers(workers: list[DispatchWorker], stop: threading.Event, max_seconds: float) -> Iterator[None]:
    threads = [threading.Thread(target=w.run, kwargs={"max_seconds": max_seconds, "stop": stop}, daemon=True)
               for w in workers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        assert not any(t.is_alive() for t in threads), "a worker did not stop"


def deliveries(factory: sessionmaker[Session]) -> list[OutboxDelivery]:
    with factory() as session:
        return list(session.scalars(select(OutboxDelivery).order_by(OutboxDelivery.id)))


def total(stats: list[WorkerStats], name: str) -> int:
    return sum(getattr(s, name) for s in stats)


def test_refused_then_accepted_delivers_each_event_exactly_once(db_session_factory: sessionmaker[Session]) -> None:
    receiver = Receiver(SECRET)  # port reserved, not listening: connections are refused
    try:
        event_ids = enqueue_committed(db_session_factory, N_EVENTS)
        with db_session_factory() as session:
            assert session.scalar(select(func.count()).select_from(OutboxEvent)) == N_EVENTS  # retries: one row
        settings = fast_settings()
        workers = [DispatchWorker(db_session_factory, [webhook(receiver)], settings, name=f"w{i}",
                                  rng=random.Random(i)) for i in range(2)]
        stop = threading.Event()
        runner = run_workers(workers, stop, max_seconds=25)
        next(runner)
        try:
            # Down for a while: wait until most deliveries have failed at least once, then come up.
            wait_until(lambda: sum(d.attempts >= 1 for d in deliveries(db_session_factory)) >= N_EVENTS // 2,
                       10, "refused attempts")
            refused = [d.last_error for d in deliveries(db_session_factory) if d.last_error]
            receiver.start_listening()
            wait_until(lambda: len(receiver.log.applied) == N_EVENTS
                       and all(d.status == DeliveryStatus.DELIVERED for d in deliveries(db_session_factory)),
                       15, "every event delivered")
        finally:
            next(runner, None)
    finally:
        receiver.close()

    assert all("ConnectError" in error for error in refused), refused[:3]
    rows = deliveries(db_session_factory)
    assert len(rows) == N_EVENTS                                     # one delivery per event and destination
    assert {r.event_id for r in rows} == set(event_ids)
    assert all(r.status == DeliveryStatus.DELIVERED and r.claim_token is None for r in rows)
    assert sum(r.attempts > 1 for r in rows) >= N_EVENTS // 2         # they really were retried
    assert sorted(receiver.log.applied) == sorted(event_ids)          # 0 lost, 0 duplicated for the app
    assert receiver.log.bad_signatures == []                          # every request was signed right
    # The claims are exclusive: no event was sent twice once the receiver was up.
    assert receiver.log.raw == dict.fromkeys(event_ids, 1)
    stats = [w.stats for w in workers]
    assert total(stats, "delivered") == N_EVENTS
    assert total(stats, "lost_claims") == 0 and total(stats, "dead") == 0


@pytest.mark.parametrize(
    ("status_code", "max_attempts", "expected_attempts", "error_part"),
    [
        (500, 3, 3, "HTTP 500"),     # server errors are retried, then dead-lettered
        (503, 2, 2, "HTTP 503"),
        (429, 3, 3, "HTTP 429"),     # rate limited: worth retrying
        (400, 5, 1, "HTTP 400"),     # the receiver refused the request itself: dead at once
        (404, 5, 1, "HTTP 404"),
    ],
)
def test_failing_receiver_ends_in_dead_letter(
    db_session_factory: sessionmaker[Session], status_code: int, max_attempts: int, expected_attempts: int,
    error_part: str,
) -> None:
    receiver = Receiver(SECRET, status_code=status_code)
    receiver.start_listening()
    try:
        with db_session_factory.begin() as session:
            event_id = enqueue(session, event_type="case.closed", aggregate_id=7, payload={"case_id": 7})
        worker = DispatchWorker(db_session_factory, [webhook(receiver)], fast_settings(max_attempts=max_attempts),
                                rng=random.Random(0))
        stop = threading.Event()
        runner = run_workers([worker], stop, max_seconds=15)
        next(runner)
        try:
            wait_until(lambda: deliveries(db_session_factory)[0].status == DeliveryStatus.DEAD
                       if deliveries(db_session_factory) else False, 10, "the dead letter")
        finally:
            next(runner, None)
    finally:
        receiver.close()
    (row,) = deliveries(db_session_factory)
    assert (row.status, row.attempts) == (DeliveryStatus.DEAD, expected_attempts)
    assert error_part in (row.last_error or "")
    assert receiver.log.raw == {event_id: expected_attempts}   # no attempt after the dead letter
    assert receiver.log.applied == []


@pytest.mark.parametrize(
    ("base_s", "cap_s", "attempts", "ceiling_s"),
    [
        (0.5, 60.0, 1, 0.5),
        (0.5, 60.0, 2, 1.0),
        (0.5, 60.0, 5, 8.0),
        (0.5, 60.0, 8, 60.0),       # 64 s capped
        (2.0, 900.0, 10, 900.0),
        (2.0, 900.0, 5000, 900.0),  # huge counts neither overflow nor exceed the cap
        (1.0, 1.0, 3, 1.0),
    ],
)
def test_backoff_is_capped_exponential_with_full_jitter(
    base_s: float, cap_s: float, attempts: int, ceiling_s: float
) -> None:
    policy = RetryPolicy(base_s, cap_s, max_attempts=10)
    assert policy.ceiling_s(attempts) == pytest.approx(ceiling_s)
    delays = [policy.delay_s(attempts, rng) for rng in [random.Random(42)] for _ in range(500)]
    assert all(0.0 <= d <= ceiling_s for d in delays)
    # Full jitter: spread over the whole window, not bunched at the ceiling.
    assert min(delays) < 0.1 * ceiling_s and max(delays) > 0.9 * ceiling_s
    again = [policy.delay_s(attempts, rng) for rng in [random.Random(42)] for _ in range(500)]
    assert again == delays  # a seeded RNG gives the same schedule


def test_backoff_schedule_for_a_seeded_rng() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=10.0, max_attempts=10)
    rng, reference = random.Random(7), random.Random(7)
    schedule = [policy.delay_s(n, rng) for n in range(1, 8)]
    ceilings = [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert schedule == [reference.uniform(0.0, c) for c in ceilings]


@pytest.mark.parametrize(
    ("base_s", "cap_s", "max_attempts", "message"),
    [
        (0.0, 1.0, 3, "0 < base_s <= cap_s"),
        (2.0, 1.0, 3, "0 < base_s <= cap_s"),
        (1.0, 2.0, 0, "max_attempts must be >= 1"),
    ],
)
def test_retry_policy_rejects_bad_values(base_s: float, cap_s: float, max_attempts: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(base_s, cap_s, max_attempts)


@pytest.mark.parametrize("trouble", ["slow", "reset"])
def test_a_slow_or_resetting_receiver_loses_nothing_and_duplicates_nothing(
    db_session_factory: sessionmaker[Session], trouble: str,
) -> None:
    """The first request of every event times out (the receiver answers after 0.8 s; the sender waits 0.3 s)
    or has its connection reset; the retries deliver every event, and the application sees each once."""
    receiver = Receiver(SECRET, trouble=trouble, slow_s=0.8)
    receiver.start_listening()
    try:
        event_ids = enqueue_committed(db_session_factory, 10)
        workers = [DispatchWorker(db_session_factory, [webhook(receiver, timeout_s=0.3)], fast_settings(),
                                  name=f"w{i}", rng=random.Random(i)) for i in range(2)]
        stop = threading.Event()
        runner = run_workers(workers, stop, max_seconds=40)
        next(runner)
        try:
            wait_until(lambda: len(deliveries(db_session_factory)) == 10
                       and all(d.status == DeliveryStatus.DELIVERED for d in deliveries(db_session_factory)),
                       30, "every event delivered")
        finally:
            next(runner, None)
    finally:
        receiver.close()

    rows = deliveries(db_session_factory)
    assert {r.event_id for r in rows} == set(event_ids)
    assert all(r.attempts >= 2 for r in rows), [r.attempts for r in rows]   # each first attempt failed
    assert receiver.log.troubled == dict.fromkeys(event_ids, 1)
    assert sorted(receiver.log.applied) == sorted(event_ids)                # 0 lost, 0 duplicated for the app
    if trouble == "reset":    # a reset request never reached the application: one request each got through
        assert receiver.log.raw == dict.fromkeys(event_ids, 1)
    else:                     # a slow one did, and its retry came on top: the event id made it harmless
        assert all(receiver.log.raw[e] >= 2 for e in event_ids)
    stats = [w.stats for w in workers]
    assert total(stats, "delivered") == 10 and total(stats, "dead") == 0
