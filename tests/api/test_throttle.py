"""The failed sign-in counts (api/throttle.py): limits, the window, Retry-After, concurrent floods, memory."""

from __future__ import annotations

import threading

import pytest

from streetwatch.api import throttle as throttle_module
from streetwatch.api.throttle import SignInThrottle, Throttled, ThrottleRules


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_frees_failures_one_by_one() -> None:
    clock = Clock()
    throttle = SignInThrottle(ThrottleRules(max_per_user=2, max_per_address=100, window_s=60), clock)
    throttle.begin("li", "10.0.0.1")
    clock.now += 10
    throttle.begin("li", "10.0.0.2")
    with pytest.raises(Throttled, match="for user 'li'") as refused:
        throttle.begin("li", "10.0.0.3")
    assert refused.value.retry_after_s == 50  # the first failure leaves the window at t0 + 60
    clock.now += 50
    throttle.begin("li", "10.0.0.3")  # one slot free again
    with pytest.raises(Throttled) as refused:
        throttle.begin("li", "10.0.0.4")
    assert refused.value.retry_after_s == 10


def test_a_refused_attempt_is_not_counted() -> None:
    clock = Clock()
    throttle = SignInThrottle(ThrottleRules(max_per_user=1, max_per_address=100, window_s=60), clock)
    throttle.begin("li", "a")
    for _ in range(5):
        with pytest.raises(Throttled):
            throttle.begin("li", "a")
    clock.now += 60.5
    throttle.begin("li", "a")


def test_success_forgives_the_attempt_and_the_users_failures() -> None:
    throttle = SignInThrottle(ThrottleRules(max_per_user=2, max_per_address=2, window_s=60), Clock())
    throttle.begin("li", "a")
    throttle.succeeded(throttle.begin("li", "a"))
    # li's failures are gone; the address keeps the earlier failure but not the successful attempt
    throttle.begin("li", "a")
    with pytest.raises(Throttled, match="from this address"):
        throttle.begin("wang", "a")


def test_concurrent_attempts_count_before_they_fail() -> None:
    throttle = SignInThrottle(ThrottleRules(max_per_user=1000, max_per_address=20, window_s=60))
    start = threading.Barrier(100)
    passed: list[int] = []

    def attempt(i: int) -> None:
        start.wait()
        try:
            throttle.begin(f"user{i}", "10.0.0.9")
            passed.append(i)
        except Throttled:
            pass

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) == 20


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle_module, "MAX_KEYS", 50)
    throttle = SignInThrottle(ThrottleRules(max_per_user=5, max_per_address=10**6, window_s=60), Clock())
    for i in range(200):
        throttle.begin(f"made-up-{i}", "10.0.0.1")
    assert len(throttle._failures) <= 50


@pytest.mark.parametrize("rules", [ThrottleRules(max_per_user=0), ThrottleRules(window_s=0)])
def test_limits_must_be_positive(rules: ThrottleRules) -> None:
    with pytest.raises(ValueError, match="positive"):
        SignInThrottle(rules)
