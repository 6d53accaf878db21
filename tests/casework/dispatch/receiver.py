"""A real HTTP receiver on 127.0.0.1 for the dispatch tests.

Its port is reserved at once by a bound socket that does not listen yet: until
:meth:`Receiver.start_listening`, the kernel refuses every connection (ECONNREFUSED), exactly
what a receiver that is down looks like. It verifies each webhook's signature, counts raw
requests per event id, and keeps the set of events handed to "the application" (deduplicated
by event id), so a test can tell retries on the wire from duplicates the application would see.
"""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from streetwatch.casework.dispatch.webhook import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    verify_signature,
)


@dataclass
class ReceiverLog:
    """What the receiver saw; guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    raw: Counter[str] = field(default_factory=Counter)          # requests per event id, incl. repeats
    applied: list[str] = field(default_factory=list)            # event ids handed to the application
    bad_signatures: list[str] = field(default_factory=list)
    troubled: Counter[str] = field(default_factory=Counter)     # requests per event id met with the trouble
    forms: list[dict[str, str]] = field(default_factory=list)   # Open311 form posts


class Receiver:
    """A webhook / Open311 receiver answering ``status_code`` (200 = accept).

    ``trouble`` makes the first webhook request of each event go wrong: ``"slow"`` answers only after
    ``slow_s`` (the application has acted on it meanwhile; the sender gave up waiting), ``"reset"``
    reads the request and resets the connection (TCP RST) without acting on it.
    """

    def __init__(self, secret: str, status_code: int = 200, open311_reply: str | None = None,
                 trouble: str | None = None, slow_s: float = 1.0) -> None:
        if trouble not in (None, "slow", "reset"):
            raise ValueError(f"trouble must be None, 'slow' or 'reset', got {trouble!r}")
        self.secret = secret
        self.status_code = status_code
        self.open311_reply = open311_reply
        self.trouble = trouble
        self.slow_s = slow_s
        self.log = ReceiverLog()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_listening(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self), bind_and_activate=False)
        server.socket.close()
        server.socket = self._socket       # the reserved port: nobody else could have taken it
        server.server_activate()           # listen(): connections are accepted from now on
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
        else:
            self._socket.close()


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            log = receiver.log
            if self.path.endswith("/requests.json"):
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                with log.lock:
                    log.forms.append(form)
                self._reply(receiver.status_code, receiver.open311_reply or "[]")
                return
            event_id = self.headers.get(EVENT_ID_HEADER) or ""
            try:
                verify_signature(receiver.secret, event_id=event_id, timestamp=self.headers.get(TIMESTAMP_HEADER),
                                 signature=self.headers.get(SIGNATURE_HEADER), body=body)
            except SignatureError as exc:
                with log.lock:
                    log.bad_signatures.append(f"{event_id}: {exc}")
                self._reply(401, '{"error": "bad signature"}')
                return
            if receiver.trouble is not None:
                with log.lock:
                    first = log.troubled[event_id] == 0
                    if first:
                        log.troubled[event_id] += 1
                if first and receiver.trouble == "reset":
                    self._reset()
                    return
            else:
                first = False
            with log.lock:
                log.raw[event_id] += 1
                # The application's dedup: act on an event id once, however often it arrives.
                if receiver.status_code == 200 and event_id not in log.applied:
                    log.applied.append(event_id)
            if first:  # slow: the application has acted on it, but the answer comes after the sender gave up
                time.sleep(receiver.slow_s)
            try:
                self._reply(receiver.status_code, "{}")
            except (BrokenPipeError, ConnectionResetError):
                pass  # slow: the sender hung up before the answer

        def _reset(self) -> None:
            """Drop the connection with a TCP RST (SO_LINGER 0), no answer."""
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.wfile = io.BytesIO()   # what the handler would still flush goes nowhere
            self.close_connection = True

        def _reply(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
