"""ASGI middleware of the API: the request body size limit.

:class:`BodySizeLimit` answers 413 to a request whose body is larger than ``max_bytes``
(``Settings.api_max_body_bytes``) before any of it is parsed: a declared ``Content-Length`` over
the limit is refused without reading a byte, and a body of unknown length (chunked) is read into
memory up to the limit, then refused or handed on whole. Its largest JSON bodies (a decision's
note, a list of 1000 ids, an Open311 description) are a few tens of kilobytes. Paths in
``exempt_paths`` (``/uploads``, which streams footage to disk under a limit of its own) are
handed on untouched.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Where the limit is set (Settings.api_max_body_bytes), named in the 413's message.
LIMIT_SETTING = "STREETWATCH_API_MAX_BODY_BYTES"


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with a 413 and a JSON ``detail``."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            # The server (h11, httptools) holds the client to the length it declared.
            if declared > self.max_bytes:
                await self._refuse(send, declared)
            else:
                await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see that
                await self.app(scope, _replay([message], receive), send)
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(send, None)
                return
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, send: Send, declared: int | None) -> None:
        size = "is larger" if declared is None else f"has {declared} bytes, more"
        detail = (f"the request body {size} than the limit of {self.max_bytes} bytes ({LIMIT_SETTING}); "
                  "send less (a list of at most 1000 ids, a shorter note)")
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
