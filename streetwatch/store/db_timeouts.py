"""Bounded waits on PostgreSQL: a database that is down or frozen gives an error in seconds, not a hang.

Three limits (:class:`DbTimeouts`), set by :func:`streetwatch.store.db.make_engine` for the API:

* connecting: libpq's ``connect_timeout`` (a server that accepts the TCP connection but never
  answers, as a stopped postmaster does, fails after it);
* a statement: the server's ``statement_timeout`` for slow queries, and on the client a
  :class:`ConnectionWatchdog` that cuts the socket of a statement still waiting a little after
  that (a frozen server cannot enforce its own timeout, and psycopg has none of its own: the
  read would wait forever). A cut connection fails with a disconnect error and leaves the pool;
* checking a pooled connection out: a ping under the same watchdog, with the connect timeout (it
  replaces SQLAlchemy's ``pool_pre_ping``, whose ping no event can bound), and the pool's own
  ``pool_timeout`` for a free connection.

SQLite needs none of this: its waits are its busy timeout (``streetwatch.store.db``).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, event
from sqlalchemy.exc import InvalidatePoolError

log = logging.getLogger(__name__)

# A statement is cut this long after the server's own statement_timeout would have ended it.
CUT_GRACE_S: Final = 2.0
_WATCH_KEY: Final = "streetwatch_watch"
_FRESH_KEY: Final = "streetwatch_fresh"


@dataclass(frozen=True, slots=True)
class DbTimeouts:
    """How long the API waits on its database (seconds).

    Attributes:
        connect_s: For a new connection; also for the ping of a pooled one.
        statement_s: For one statement (PostgreSQL's ``statement_timeout``; the client cuts the
            connection ``CUT_GRACE_S`` later).
        pool_s: For a free connection when the pool is exhausted.
    """

    connect_s: float = 5.0
    statement_s: float = 30.0
    pool_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("connect_s", "statement_s", "pool_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def connect_args(self) -> dict[str, Any]:
        """psycopg's connection arguments for these limits."""
        return {"connect_timeout": max(1, round(self.connect_s)),  # libpq takes whole seconds
                "options": f"-c statement_timeout={round(self.statement_s * 1000)}"}


class ConnectionWatchdog:
    """One thread that cuts the socket of a DBAPI connection whose deadline passes while it is watched."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._watched: dict[int, Any] = {}  # token -> DBAPI connection
        self._deadlines: list[tuple[float, int]] = []  # heap of (monotonic deadline, token)
        self._tokens = itertools.count(1)
        self._thread: threading.Thread | None = None

    def watch(self, dbapi_connection: Any, seconds: float) -> int:
        """Start watching; returns the token to :meth:`release` when the wait is over."""
        with self._lock:
            token = next(self._tokens)
            self._watched[token] = dbapi_connection
            heapq.heappush(self._deadlines, (time.monotonic() + seconds, token))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()
            self._lock.notify()
            return token

    def release(self, token: int) -> None:
        """Stop watching (the statement is done, or failed on its own)."""
        with self._lock:
            self._watched.pop(token, None)

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._deadlines and self._deadlines[0][1] not in self._watched:
                    heapq.heappop(self._deadlines)  # released before its deadline
                if not self._deadlines:
                    self._lock.wait()
                    continue
                deadline, token = self._deadlines[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._lock.wait(left)
                    continue
                heapq.heappop(self._deadlines)
                _cut(self._watched.pop(token))  # under the lock: a release cannot race it


def _cut(dbapi_connection: Any) -> None:
    """Shut the connection's socket down: the read it is blocked in returns, psycopg raises."""
    try:
        with socket.socket(fileno=os.dup(dbapi_connection.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)
        log.warning("cut a database connection that waited past its deadline (is the server frozen?)")
    except (OSError, ValueError) as exc:  # already closed
        log.debug("could not cut a database connection: %s", exc)


WATCHDOG: Final = ConnectionWatchdog()  # one thread for the process, started on first use


def bound_waits(engine: Engine, timeouts: DbTimeouts, watchdog: ConnectionWatchdog = WATCHDOG) -> None:
    """Watch ``engine``'s statements and ping pooled connections on checkout, as the module docstring says.

    Create the engine with ``pool_pre_ping=False`` (the checkout ping here replaces it) and with
    ``timeouts.connect_args()``.
    """
    statement_cut_s = timeouts.statement_s + CUT_GRACE_S

    @event.listens_for(engine, "connect")
    def _mark_fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH_KEY] = True  # just connected: nothing to ping

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(_FRESH_KEY, False):
            return
        token = watchdog.watch(dbapi_connection, timeouts.connect_s)
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool drops every connection older than now and connects anew (bounded by connect_timeout).
            raise InvalidatePoolError(f"a pooled connection did not answer its ping: {exc}") from exc
        finally:
            watchdog.release(token)

    @event.listens_for(engine, "before_cursor_execute")
    def _watch(conn: Any, cursor: Any, *_args: Any) -> None:
        conn.info[_WATCH_KEY] = watchdog.watch(cursor.connection, statement_cut_s)

    @event.listens_for(engine, "after_cursor_execute")
    def _release(conn: Any, *_args: Any) -> None:
        if (token := conn.info.pop(_WATCH_KEY, None)) is not None:
            watchdog.release(token)

    @event.listens_for(engine, "handle_error")
    def _release_on_error(context: Any) -> None:
        connection = context.connection
        if connection is not None and (token := connection.info.pop(_WATCH_KEY, None)) is not None:
            watchdog.release(token)
