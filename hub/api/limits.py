"""A bound on every HTTP request body, enforced before any handler reads it (ASGI middleware).

A declared ``Content-Length`` above the limit is refused at once; a body sent without one (chunked) is counted as
it arrives and refused the moment it passes the limit. Both get a 413 problem.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.problems import MEDIA_TYPE, TITLES, TYPE_BASE, count_refusal


class _TooLargeError(HTTPException):
    """Raised from ``receive``: an HTTPException, so the app's own handler answers with the 413 problem."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the body is larger than {max_bytes} bytes")


async def _send_problem(scope: Scope, send: Send, status: int, detail: str) -> None:
    count_refusal(scope.get("app"), status)
    body = json.dumps(
        {"type": TYPE_BASE + str(status), "title": TITLES[status], "status": status, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuses request bodies larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or len(declared) > 18:
                await _send_problem(scope, send, 400, "Content-Length is not a number")
                return
            if int(declared) > self.max_bytes:
                await _send_problem(scope, send, 413, f"the body is larger than {self.max_bytes} bytes")
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLargeError(self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _TooLargeError:
            if not started:
                await _send_problem(scope, send, 413, f"the body is larger than {self.max_bytes} bytes")
