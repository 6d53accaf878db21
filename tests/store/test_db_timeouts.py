"""The watchdog that bounds waits on a database: it cuts a connection blocked past its deadline, and only then."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from streetwatch.store.db import make_engine
from streetwatch.store.db_timeouts import ConnectionWatchdog, DbTimeouts


class _Connection:
    """Stands in for a DBAPI connection: a socket whose peer never answers."""

    def __init__(self) -> None:
        self.ours, self.peer = socket.socketpair()

    def fileno(self) -> int:
        return self.ours.fileno()

    def close(self) -> None:
        self.ours.close()
        self.peer.close()


def test_a_blocked_read_is_cut_at_its_deadline() -> None:
    watchdog = ConnectionWatchdog()
    connection = _Connection()
    try:
        token = watchdog.watch(connection, 0.3)
        began = time.perf_counter()
        assert connection.ours.recv(1) == b""  # blocked until the watchdog shut the socket down
        waited = time.perf_counter() - began
        watchdog.release(token)
        assert 0.25 < waited < 3.0
    finally:
        connection.close()


def test_a_released_connection_is_left_alone() -> None:
    watchdog = ConnectionWatchdog()
    connection, other = _Connection(), _Connection()
    try:
        watchdog.release(watchdog.watch(connection, 0.2))
        watchdog.watch(other, 0.1)  # keeps the thread busy past the first deadline
        assert other.ours.recv(1) == b""
        time.sleep(0.3)
        connection.peer.sendall(b"x")
        assert connection.ours.recv(1) == b"x"  # still open both ways
    finally:
        connection.close()
        other.close()


def test_many_connections_each_cut_on_time() -> None:
    watchdog = ConnectionWatchdog()
    connections = [_Connection() for _ in range(5)]
    cut_after: dict[int, float] = {}
    began = time.perf_counter()

    def read(i: int) -> None:
        connections[i].ours.recv(1)
        cut_after[i] = time.perf_counter() - began

    threads = [threading.Thread(target=read, args=(i,)) for i in range(5)]
    try:
        for i, thread in enumerate(threads):
            watchdog.watch(connections[i], 0.2 * (5 - i))  # the last watched is cut first
            thread.start()
        for thread in threads:
            thread.join(timeout=5)
        assert sorted(cut_after, key=cut_after.__getitem__) == [4, 3, 2, 1, 0]
    finally:
        for connection in connections:
            connection.close()


@pytest.mark.parametrize("field", ["connect_s", "statement_s", "pool_s"])
def test_timeouts_are_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DbTimeouts(**{field: 0})


def test_connect_args() -> None:
    assert DbTimeouts(connect_s=2.4, statement_s=1.5).connect_args() == {
        "connect_timeout": 2, "options": "-c statement_timeout=1500"}


@pytest.mark.parametrize("database", ["file", ":memory:"])
def test_sqlite_engines_take_the_timeouts_they_can(tmp_path: Path, database: str) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}" if database == "file" else "sqlite:///:memory:"
    engine = make_engine(url, timeouts=DbTimeouts(pool_s=3))
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1
        if database == "file":
            assert engine.pool.timeout() == 3  # type: ignore[attr-defined]
    finally:
        engine.dispose()
