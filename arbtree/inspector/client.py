"""Finding a running arbtree and talking to its control endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import msgspec

from actors.observability.control import CONTROL_FILE, ControlInfo
from protocols.tree import TreeSnapshot

__all__ = [
    "AsyncControlClient",
    "ControlClient",
    "Endpoint",
    "InspectorError",
    "NoInstanceError",
    "UnauthorizedError",
    "locate",
]


class InspectorError(Exception):
    exit_code = 1


class NoInstanceError(InspectorError):
    """Nothing to inspect: no control.json, or nothing answers at its URL."""

    exit_code = 2


class UnauthorizedError(InspectorError):
    """The endpoint refused the token (HTTP 401), or the token file cannot be read."""

    exit_code = 3


@attrs.frozen
class Endpoint:
    url: str
    token_file: Path | None = None

    def token(self) -> str:
        if self.token_file is None:
            raise UnauthorizedError(
                "actions need the control token: pass --token-file (or use --run-dir)"
            )
        try:
            return self.token_file.read_text().strip()
        except OSError as exc:
            raise UnauthorizedError(
                f"cannot read the control token file {self.token_file}: {exc.strerror}"
            ) from None


def locate(run_dir: Path, url: str | None = None, token_file: Path | None = None) -> Endpoint:
    """``--url`` (+ ``--token-file``) if given, else ``<run_dir>/control.json``."""
    if url:
        return Endpoint(url.rstrip("/"), token_file)
    control = run_dir / CONTROL_FILE
    try:
        raw = control.read_bytes()
    except FileNotFoundError:
        raise NoInstanceError(
            f"no running arbtree found: {control} does not exist "
            "(start one with `arbtree run`, or pass --run-dir or --url)"
        ) from None
    except OSError as exc:
        raise NoInstanceError(f"cannot read {control}: {exc.strerror}") from None
    try:
        info = msgspec.json.decode(raw, type=ControlInfo)
    except msgspec.DecodeError as exc:
        raise NoInstanceError(f"{control} is not a valid control file: {exc}") from None
    return Endpoint(info.url.rstrip("/"), token_file or Path(info.token_file))


def _check(response: httpx.Response, endpoint: Endpoint) -> None:
    if response.status_code == 401:
        raise UnauthorizedError(
            f"the control endpoint at {endpoint.url} refused the token from "
            f"{endpoint.token_file} (401 unauthorized): is it this run's token file?"
        )
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise InspectorError(f"{response.request.url.path}: HTTP {response.status_code}: {message}")


def _no_instance(endpoint: Endpoint, exc: Exception) -> NoInstanceError:
    return NoInstanceError(
        f"no arbtree answering at {endpoint.url} ({type(exc).__name__}: {exc}); "
        "is it running? a control.json left by a crashed run points nowhere"
    )


class ControlClient:
    """Blocking client for the one-shot commands (``--once``, ``--json``, actions)."""

    def __init__(self, endpoint: Endpoint, *, timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self._client = httpx.Client(base_url=endpoint.url, timeout=timeout, trust_env=False)

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _no_instance(self.endpoint, exc) from None
        except httpx.HTTPError as exc:
            raise InspectorError(f"{method} {path} failed: {exc}") from None
        _check(response, self.endpoint)
        return response

    def tree_json(self) -> bytes:
        return self._request("GET", "/tree").content

    def tree(self) -> TreeSnapshot:
        return msgspec.json.decode(self.tree_json(), type=TreeSnapshot)

    def action(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        token = self.endpoint.token()
        response = self._request(
            "POST",
            f"/actions/{name}",
            json=body or {},
            headers={"Authorization": f"Bearer {token}"},
        )
        result: dict[str, Any] = response.json()
        return result


class AsyncControlClient:
    """Trio client for the live inspector: the snapshot stream and actions."""

    def __init__(self, endpoint: Endpoint, *, timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self._client = httpx.AsyncClient(base_url=endpoint.url, timeout=timeout, trust_env=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def stream(self, interval: float) -> AsyncIterator[TreeSnapshot]:
        """Snapshots from ``/tree/stream``, one per ``interval`` seconds."""
        decoder = msgspec.json.Decoder(TreeSnapshot)
        try:
            async with self._client.stream(
                "GET",
                "/tree/stream",
                params={"interval": interval},
                timeout=httpx.Timeout(self._client.timeout.connect, read=None),
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _check(response, self.endpoint)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield decoder.decode(line)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _no_instance(self.endpoint, exc) from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise NoInstanceError(f"the control endpoint closed the stream ({exc})") from None

    async def action(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        token = self.endpoint.token()
        try:
            response = await self._client.post(
                f"/actions/{name}", json=body or {}, headers={"Authorization": f"Bearer {token}"}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _no_instance(self.endpoint, exc) from None
        _check(response, self.endpoint)
        result: dict[str, Any] = response.json()
        return result
