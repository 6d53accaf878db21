"""Failed sign-ins, counted per username and per client address, in this process.

A sign-in first asks :meth:`SignInThrottle.begin`: past ``max_per_user`` failures for the username,
or ``max_per_address`` from the address, within the last ``window_s`` seconds, it is refused (the
route answers 429 with ``Retry-After``) before the password is hashed, so a flood costs nothing.
An attempt counts as a failure from the moment it begins (fifty concurrent guesses cannot all
pass the check before the first one fails) and is forgiven when it succeeds; a success also
clears the username's failures.

The counts live in this process: one server counts its own sign-ins (several workers or servers
behind a balancer each count theirs, so the limits multiply). The address is the one the server
sees: behind a reverse proxy, run uvicorn with ``--proxy-headers --forwarded-allow-ips`` set to
the proxy, or every client shares the proxy's address and its limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# Keys remembered at most (usernames and addresses with failures in the window); past it the
# oldest are forgotten, so a flood of made-up usernames cannot fill the memory.
MAX_KEYS: Final = 100_000


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    """How many failed sign-ins are allowed within how long.

    Attributes:
        max_per_user: Failures for one username (from anywhere).
        max_per_address: Failures from one client address (for any usernames).
        window_s: The window, in seconds.
    """

    max_per_user: int = 10
    max_per_address: int = 20
    window_s: float = 900.0


class Throttled(Exception):
    """Too many failed sign-ins; ``retry_after_s`` says when the next attempt may be made."""

    def __init__(self, what: str, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins {what}: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Attempt:
    """One sign-in under way: pass it to :meth:`SignInThrottle.succeeded` or leave it counted as failed."""

    user_key: str
    address_key: str
    at: float


class SignInThrottle:
    """The failure counts (thread-safe)."""

    def __init__(self, rules: ThrottleRules, clock: Callable[[], float] = time.monotonic) -> None:
        if rules.max_per_user < 1 or rules.max_per_address < 1 or rules.window_s <= 0:
            raise ValueError(f"throttle limits must be positive, got {rules}")
        self.rules = rules
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def begin(self, username: str, address: str | None) -> Attempt:
        """Count an attempt for the username and the address, unless either is past its limit.

        Raises:
            Throttled: Past a limit; nothing is counted.
        """
        now = self._clock()
        user_key, address_key = f"user:{username[:255]}", f"address:{address or 'unknown'}"
        with self._lock:
            for key, limit, what in ((user_key, self.rules.max_per_user, f"for user {username[:64]!r}"),
                                     (address_key, self.rules.max_per_address, "from this address")):
                failures = self._recent(key, now)
                if len(failures) >= limit:
                    # Free again once the failure that makes the count reach the limit leaves the window.
                    free_at = failures[len(failures) - limit] + self.rules.window_s
                    raise Throttled(what, max(1, math.ceil(free_at - now)))
            for key in (user_key, address_key):
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > MAX_KEYS:
                self._forget_oldest(now)
            return Attempt(user_key, address_key, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forgive the attempt, and the username's earlier failures."""
        with self._lock:
            self._failures.pop(attempt.user_key, None)
            failures = self._failures.get(attempt.address_key)
            if failures is not None:
                try:
                    failures.remove(attempt.at)
                except ValueError:
                    pass
                if not failures:
                    del self._failures[attempt.address_key]

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.rules.window_s:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def _forget_oldest(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        if len(self._failures) > MAX_KEYS:
            newest_first = sorted(self._failures, key=lambda k: self._failures[k][-1], reverse=True)
            for key in newest_first[MAX_KEYS // 2:]:
                del self._failures[key]
