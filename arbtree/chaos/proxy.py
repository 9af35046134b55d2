"""A TCP fault proxy on Trio with Toxiproxy's toxics (see ``arbtree.chaos.toxics``).

``Proxy(name, upstream)`` listens on 127.0.0.1 and forwards every connection to
``upstream`` (``(host, port)``, or a Unix socket path: the embedded PostgreSQL listens on
one). Toxics are added and removed while connections are live; each connection draws
once per toxic (seeded) whether the toxic applies to it (``toxicity``). ``disable()`` is
Toxiproxy's ``enabled = false``: live connections are closed and new ones closed at once.

Each direction is two tasks, a reader and a writer with a small channel between, so a
latency toxic delays every chunk from when it arrived (pipelined, like Toxiproxy) rather
than adding up.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
from collections.abc import Iterable

import attrs
import trio

from arbtree.chaos.toxics import Stream, Toxic

CHUNK = 32 * 1024
QUEUE = 64  # chunks in flight per direction before the reader waits


@attrs.frozen
class ProxyStatistics:
    connections: int  # accepted since the start
    active: int
    resets: int  # connections reset by reset_peer
    closed_by_toxic: int  # timeout, limit_data
    bytes_upstream: int
    bytes_downstream: int


@attrs.define(eq=False)
class _Link:
    client: trio.SocketStream
    server: trio.SocketStream | None = None
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    started: float = 0.0
    drawn: dict[str, bool] = attrs.Factory(dict)
    sent: dict[str, int] = attrs.Factory(lambda: {"upstream": 0, "downstream": 0})


def _rst(stream: trio.SocketStream | None) -> None:
    """Make the next close send a TCP RST instead of a FIN."""
    if stream is None:
        return
    with contextlib.suppress(OSError):
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Proxy:
    """One listening proxy in front of one upstream."""

    def __init__(
        self,
        name: str,
        upstream: tuple[str, int] | str,
        *,
        listen_port: int = 0,
        seed: int = 0,
    ) -> None:
        self.name = name
        self.upstream = upstream
        self.listen_port = listen_port
        self.port = 0
        self.enabled = True
        self._rng = random.Random(seed)
        self._toxics: dict[str, tuple[Toxic, float]] = {}  # name -> (toxic, added at)
        self._changed = trio.Event()
        self._links: set[_Link] = set()
        self._connections = self._resets = self._closed_by_toxic = 0
        self._bytes = {"upstream": 0, "downstream": 0}

    # -- the toxics and the switch -----------------------------------------------------

    @property
    def toxics(self) -> list[Toxic]:
        return [t for t, _ in self._toxics.values()]

    def add_toxic(self, toxic: Toxic) -> None:
        if toxic.name in self._toxics:
            raise ValueError(f"toxic {toxic.name!r} already exists on proxy {self.name!r}")
        self._toxics[toxic.name] = (toxic, trio.current_time())
        self._changed_now()

    def remove_toxic(self, name: str) -> None:
        if self._toxics.pop(name, None) is None:
            raise KeyError(f"no toxic {name!r} on proxy {self.name!r}")
        self._changed_now()

    def reset(self) -> None:
        """Toxiproxy's ``POST /reset``: every toxic removed, the proxy enabled."""
        self._toxics.clear()
        self.enabled = True
        self._changed_now()

    def disable(self) -> None:
        """Take the proxy down: close every connection; new ones are closed at once."""
        self.enabled = False
        for link in list(self._links):
            link.scope.cancel()
        self._changed_now()

    def enable(self) -> None:
        self.enabled = True
        self._changed_now()

    def statistics(self) -> ProxyStatistics:
        return ProxyStatistics(
            connections=self._connections,
            active=len(self._links),
            resets=self._resets,
            closed_by_toxic=self._closed_by_toxic,
            bytes_upstream=self._bytes["upstream"],
            bytes_downstream=self._bytes["downstream"],
        )

    def _changed_now(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _active(self, link: _Link, stream: Stream | None = None) -> Iterable[tuple[Toxic, float]]:
        for toxic, added in list(self._toxics.values()):
            if stream is not None and toxic.stream != stream:
                continue
            applies = link.drawn.get(toxic.name)
            if applies is None:
                applies = link.drawn[toxic.name] = self._rng.random() < toxic.toxicity
            if applies:
                yield toxic, added

    # -- serving -----------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1 until cancelled; reports the bound port when listening."""
        listeners = await trio.open_tcp_listeners(self.listen_port, host="127.0.0.1")
        self.port = int(listeners[0].socket.getsockname()[1])
        async with trio.open_nursery() as nursery:
            task_status.started(self.port)
            await trio.serve_listeners(self._handle, listeners, handler_nursery=nursery)

    async def _connect(self) -> trio.SocketStream:
        if isinstance(self.upstream, str):
            return await trio.open_unix_socket(self.upstream)
        host, port = self.upstream
        return await trio.open_tcp_stream(host, port)

    async def _handle(self, client: trio.SocketStream) -> None:
        self._connections += 1
        link = _Link(client, started=trio.current_time())
        if not self.enabled:
            await trio.aclose_forcefully(client)
            return
        self._links.add(link)
        try:
            with link.scope:
                try:
                    link.server = await self._connect()
                except OSError:
                    return
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._direction, link, "upstream", nursery.cancel_scope)
                    nursery.start_soon(self._direction, link, "downstream", nursery.cancel_scope)
                    nursery.start_soon(self._watch, link, nursery.cancel_scope)
        finally:
            self._links.discard(link)
            await trio.aclose_forcefully(client)
            if link.server is not None:
                await trio.aclose_forcefully(link.server)

    async def _direction(self, link: _Link, stream: Stream, done: trio.CancelScope) -> None:
        assert link.server is not None
        src, dst = (
            (link.client, link.server) if stream == "upstream" else (link.server, link.client)
        )
        send, receive = trio.open_memory_channel[tuple[float, bytes]](QUEUE)
        async with trio.open_nursery() as nursery:

            async def read() -> None:
                async with send:
                    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        while data := await src.receive_some(CHUNK):
                            await send.send((trio.current_time(), data))

            nursery.start_soon(read)
            try:
                async with receive:
                    async for arrived, data in receive:
                        await self._forward(link, stream, dst, arrived, data, done)
                for toxic, _ in self._active(link, stream):
                    if toxic.type == "slow_close":
                        await trio.sleep(toxic.attributes["delay"] / 1000)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            done.cancel()  # one side closed: the link closes, as in Toxiproxy

    async def _forward(
        self,
        link: _Link,
        stream: Stream,
        dst: trio.SocketStream,
        arrived: float,
        data: bytes,
        done: trio.CancelScope,
    ) -> None:
        while any(t.type == "timeout" for t, _ in self._active(link, stream)):
            await self._changed.wait()  # held until the toxic goes (or _watch closes us)
        pieces = [data]
        for toxic, _ in self._active(link, stream):
            a = toxic.attributes
            if toxic.type == "latency":
                jitter = a["jitter"] * (2 * self._rng.random() - 1)
                await trio.sleep_until(arrived + max(0.0, a["latency"] + jitter) / 1000)
            elif toxic.type == "bandwidth":
                await trio.sleep(len(data) / (a["rate"] * 1000))
            elif toxic.type == "slicer":
                pieces = list(
                    self._slices(pieces, int(a["average_size"]), int(a["size_variation"]))
                )
            elif toxic.type == "limit_data":
                room = max(0, int(a["bytes"]) - link.sent[stream])
                if room < len(data):
                    pieces = [data[:room]] if room else []
                    await self._send_all(link, stream, dst, pieces, 0.0)
                    self._closed_by_toxic += 1
                    done.cancel()
                    return
        delay = next(
            (
                t.attributes["delay"] / 1e6
                for t, _ in self._active(link, stream)
                if t.type == "slicer"
            ),
            0.0,
        )
        await self._send_all(link, stream, dst, pieces, delay)

    async def _send_all(
        self, link: _Link, stream: Stream, dst: trio.SocketStream, pieces: list[bytes], delay: float
    ) -> None:
        for i, piece in enumerate(pieces):
            if i and delay:
                await trio.sleep(delay)
            link.sent[stream] += len(piece)  # counted as handed over, before the wait
            self._bytes[stream] += len(piece)
            await dst.send_all(piece)

    def _slices(self, pieces: list[bytes], average: int, variation: int) -> Iterable[bytes]:
        for data in pieces:
            at = 0
            while at < len(data):
                size = max(1, average + self._rng.randint(-variation, variation))
                yield data[at : at + size]
                at += size

    async def _watch(self, link: _Link, done: trio.CancelScope) -> None:
        """Close the link when a ``timeout`` (> 0) or ``reset_peer`` toxic comes due."""
        while True:
            due: list[tuple[float, str]] = []
            for toxic, added in self._active(link):
                if toxic.type == "reset_peer" or (
                    toxic.type == "timeout" and toxic.attributes["timeout"] > 0
                ):
                    since = max(added, link.started)
                    due.append((since + toxic.attributes["timeout"] / 1000, toxic.type))
            changed = self._changed
            if due:
                at, kind = min(due)
                with trio.move_on_at(at) as wait:
                    await changed.wait()
                if not wait.cancelled_caught:
                    continue  # the toxics changed first: look again
                if kind == "reset_peer":
                    self._resets += 1
                    _rst(link.client)
                    _rst(link.server)
                else:
                    self._closed_by_toxic += 1
                done.cancel()
                return
            await changed.wait()
