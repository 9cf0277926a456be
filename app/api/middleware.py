"""Pure ASGI middleware: the checks every request passes before a route runs.

Pure ASGI because each costs about a microsecond per request. A `BaseHTTPMiddleware` costs far
more, and so did the API key as a FastAPI dependency: ~50 µs on a ~220 µs 1-beat /v1/predict,
measured in-process. Responses still come from `app.api.errors`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sys
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import (
    BodyTooLargeError,
    BodyTooSlowError,
    api_key_response,
    body_too_large_response,
)
from app.inference.artifact import ArtifactError


class BodySizeLimit:
    """Refuse bodies over `max_bytes` with 413, on every endpoint.

    A Content-Length over the limit is refused before a byte of the body is read. A body without
    one (chunked) is counted as it streams in, and reading stops at the chunk that passes the
    limit. A body within its Content-Length needs no counting: the server delivers no more.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is None:
            await self.app(scope, _limited(receive, self.max_bytes), send)
        elif length > self.max_bytes:
            await body_too_large_response(self.max_bytes, length)(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class BodyDeadline:
    """408 for a body that has not arrived whole `timeout_s` after its first read.

    Without it a client sending a byte a minute holds a connection, and what it sent, for as long
    as it likes. The deadline runs only while the body is incomplete: a body that came in one
    message (nearly all of them) costs a flag check.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, _with_deadline(receive, self.timeout_s), send)


def _with_deadline(receive: Receive, timeout_s: float) -> Receive:
    deadline: float | None = None
    complete = False

    async def receive_before_deadline() -> Message:
        nonlocal deadline, complete
        if complete:
            return await receive()
        loop = asyncio.get_running_loop()
        deadline = deadline if deadline is not None else loop.time() + timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise BodyTooSlowError(timeout_s) from None
        complete = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    return receive_before_deadline


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _limited(receive: Receive, max_bytes: int) -> Receive:
    received = 0

    async def receive_within_limit() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise BodyTooLargeError(max_bytes)  # app.api.errors answers 413
        return message

    return receive_within_limit


class ApiKeyRequired:
    """401 unless the X-API-Key header holds the key, on every path but `open_paths` and those
    under `open_prefixes` (static files).

    Every path, so that a route added later is protected unless it is listed as open. The key is
    compared in constant time, as SHA-256 digests so that not even its length shows.
    """

    def __init__(
        self,
        app: ASGIApp,
        api_key: str,
        open_paths: Collection[str],
        open_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.key_digest = hashlib.sha256(api_key.encode()).digest()
        self.open_paths = frozenset(open_paths)
        self.open_prefixes = open_prefixes

    def is_open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(self.open_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.is_open(_app_path(scope)):
            presented = _header(scope, b"x-api-key")
            if presented is None or not hmac.compare_digest(
                hashlib.sha256(presented).digest(), self.key_digest
            ):
                await api_key_response(presented is not None)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _app_path(scope: Scope) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :]
    return path


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class StartupFailureAsOneLine:
    """A model directory that cannot be served stops start-up with one log line, no traceback.

    Starlette reports a failed lifespan start-up with the traceback as its message, and uvicorn
    logs that message. A missing or corrupt model directory is an operator's mistake, not a bug:
    its `ArtifactError` already names the file and the problem, so that line replaces the
    traceback. Any other start-up failure keeps its traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_one_line(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                error = sys.exception()  # Starlette sends the failure from its `except` block
                if isinstance(error, ArtifactError):
                    message = {**message, "message": f"cannot load the model: {error}"}
            await send(message)

        await self.app(scope, receive, send_one_line)
