"""ASGI plumbing for the control app, no framework: the scope/receive/send types, the
HTTP error a handler raises, and the response writers (plain and JSON).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_JSON = b"application/json"
_NDJSON = b"application/x-ndjson"


def _res(result: object) -> dict[str, Any]:
    if result is None:
        return {}
    try:
        return {"result": msgspec.to_builtins(result)}
    except TypeError:
        return {"result": str(result)}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_json(
    send: Send, status: int, doc: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _send(send, status, msgspec.json.encode(doc), _JSON, headers)
