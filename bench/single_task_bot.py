"""The yardstick of ``arbtree bench e2e``: a hand-written bot doing the tree's trigger job
in ONE Trio task, written in good faith (nothing slowed down on purpose).

One task reads the sim's Polymarket market socket itself, parses the websocket frames
with the ``websockets`` sans-I/O protocol, decodes them with msgspec, keeps one ask book
per token, checks the YES + NO complement of each touched market after fees, and writes
two HTTP/1.1 POSTs (heads rendered ahead, the body filled in with the price and a salt)
on two keep-alive connections opened at start, then reads both replies. Over ``wss://``
and ``https://`` when given an SSL context, as the tree.

The clock of a trigger starts when the socket read that delivered its frame returned
(before the websocket parse), and stops after each leg's ``send_all`` returned: the same
two points the tree's figures use.

``hops > 0`` runs the same job with that many empty memory-channel hops between the
reader (socket read + websocket parse) and the worker (decode, books, check, send): one
task per hop, each forwarding what it receives, as the tree's actors forward a tick.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from typing import Protocol

import attrs
import msgspec
import trio
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

ONE = 1_000_000


class BotMarket(Protocol):
    """What the bot needs of a sim market's listing."""

    @property
    def yes_token(self) -> str: ...
    @property
    def no_token(self) -> str: ...
    @property
    def fee_rate_ppm(self) -> int: ...


class Level(msgspec.Struct):
    price: str
    size: str


class Change(msgspec.Struct):
    asset_id: str
    price: str
    size: str
    side: str


class Event(msgspec.Struct, kw_only=True):
    event_type: str = ""
    asset_id: str = ""
    asks: list[Level] = []
    price_changes: list[Change] = []


_decode = msgspec.json.Decoder(Event | list[Event]).decode


def _units(text: str) -> int:
    return int(float(text) * ONE + 0.5)


@attrs.define(eq=False)
class Trigger:
    """One complement the bot traded: its read time and each leg's send time (ns)."""

    read_ns: int
    decided_ns: int
    first_ns: int
    second_ns: int


@attrs.define(eq=False)
class _Pair:
    yes: str
    no: str
    fee_rate_ppm: int
    cooldown_until: float = 0.0


@attrs.define(eq=False)
class _Leg:
    """One keep-alive connection and the order head it writes."""

    stream: trio.abc.Stream
    head: bytes  # request line and headers up to the Content-Length value
    buffer: bytearray = attrs.field(factory=bytearray)

    async def read_reply(self) -> None:
        """Read one HTTP/1.1 reply (Content-Length framed, as the sim answers)."""
        buf = self.buffer
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(buf[:end]).lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
                if len(buf) >= end + 4 + length:
                    del buf[: end + 4 + length]
                    return
            data = await self.stream.receive_some(65_536)
            if not data:
                raise trio.BrokenResourceError("the venue closed the order connection")
            buf += data


@attrs.define(eq=False)
class SingleTaskBot:
    """See the module docstring. ``run`` trades for ``duration_s`` and fills ``triggers``."""

    ws_url: str
    rest_url: str
    markets: Sequence[BotMarket]
    ssl_context: ssl.SSLContext | None = None
    size: int = 10 * ONE  # shares per leg (the bench's detector max_size)
    min_edge: int = 5_000  # per share, net of fees (the tree's default)
    cooldown_s: float = 0.5  # per market, as the tree's detector
    triggers: list[Trigger] = attrs.field(factory=list)
    seen_frames: int = 0
    _pairs: dict[str, _Pair] = attrs.field(factory=dict)
    _asks: dict[str, dict[int, int]] = attrs.field(factory=dict)
    _legs: list[_Leg] = attrs.field(factory=list)
    _salt: int = 0

    async def _connect(self, host: str, port: int) -> trio.abc.Stream:
        if self.ssl_context is not None:
            return await trio.open_ssl_over_tcp_stream(host, port, ssl_context=self.ssl_context)
        return await trio.open_tcp_stream(host, port)

    async def run(self, duration_s: float, hops: int = 0) -> None:
        for m in self.markets:
            pair = _Pair(m.yes_token, m.no_token, m.fee_rate_ppm)
            self._pairs[m.yes_token] = self._pairs[m.no_token] = pair
            self._asks[m.yes_token] = {}
            self._asks[m.no_token] = {}
        rest = parse_uri(self.rest_url.replace("http", "ws", 1))
        for _ in range(2):
            stream = await self._connect(rest.host, rest.port)
            head = (
                f"POST /order HTTP/1.1\r\nHost: {rest.host}:{rest.port}\r\n"
                "Content-Type: application/json\r\nContent-Length: "
            ).encode()
            self._legs.append(_Leg(stream, head))
        uri = parse_uri(self.ws_url)
        protocol = ClientProtocol(uri, max_size=4 << 20)
        ws = await self._connect(uri.host, uri.port)
        await _handshake(ws, protocol)
        tokens = list(self._asks)
        protocol.send_text(msgspec.json.encode({"assets_ids": tokens, "type": "market"}))
        await ws.send_all(b"".join(protocol.data_to_send()))
        with trio.move_on_after(duration_s):
            if hops == 0:
                await self._single_task(ws, protocol)
            else:
                await self._with_hops(ws, protocol, hops)
        for leg in self._legs:
            await trio.aclose_forcefully(leg.stream)
        await trio.aclose_forcefully(ws)

    async def _single_task(self, ws: trio.abc.Stream, protocol: ClientProtocol) -> None:
        while True:
            read_ns, frames = await _read_frames(ws, protocol)
            if frames:
                await self._handle(read_ns, frames)

    async def _with_hops(self, ws: trio.abc.Stream, protocol: ClientProtocol, hops: int) -> None:
        channels = [trio.open_memory_channel[tuple[int, list[bytes]]](1024) for _ in range(hops)]

        async def relay(
            rx: trio.MemoryReceiveChannel[tuple[int, list[bytes]]],
            tx: trio.MemorySendChannel[tuple[int, list[bytes]]],
        ) -> None:
            async for item in rx:
                await tx.send(item)

        async def worker(rx: trio.MemoryReceiveChannel[tuple[int, list[bytes]]]) -> None:
            async for read_ns, frames in rx:
                await self._handle(read_ns, frames)

        async with trio.open_nursery() as nursery:
            for i in range(hops - 1):
                nursery.start_soon(relay, channels[i][1], channels[i + 1][0])
            nursery.start_soon(worker, channels[-1][1])
            first = channels[0][0]
            while True:
                read_ns, frames = await _read_frames(ws, protocol)
                if frames:
                    await first.send((read_ns, frames))

    async def _handle(self, read_ns: int, frames: list[bytes]) -> None:
        asks = self._asks
        touched: set[str] = set()
        for frame in frames:
            self.seen_frames += 1
            try:
                decoded = _decode(frame)
            except msgspec.DecodeError:
                continue  # "PONG" and the like
            for event in decoded if isinstance(decoded, list) else (decoded,):
                kind = event.event_type
                if kind == "price_change":
                    for c in event.price_changes:
                        book = asks.get(c.asset_id)
                        if book is None or c.side != "SELL":
                            continue
                        price, size = _units(c.price), _units(c.size)
                        if size:
                            book[price] = size
                        else:
                            book.pop(price, None)
                        touched.add(c.asset_id)
                elif kind == "book":
                    book = asks.get(event.asset_id)
                    if book is not None:
                        book.clear()
                        for level in event.asks:
                            book[_units(level.price)] = _units(level.size)
                        touched.add(event.asset_id)
        if touched:
            await self._check(read_ns, touched)

    async def _check(self, read_ns: int, touched: set[str]) -> None:
        now = trio.current_time()
        asks = self._asks
        size = self.size
        done: set[int] = set()
        for token in touched:
            pair = self._pairs[token]
            if id(pair) in done or now < pair.cooldown_until:
                continue
            done.add(id(pair))
            yes_book, no_book = asks[pair.yes], asks[pair.no]
            if not yes_book or not no_book:
                continue
            ay, an = min(yes_book), min(no_book)
            if yes_book[ay] < size or no_book[an] < size:
                continue
            rate = pair.fee_rate_ppm
            fees = (rate * ay * (ONE - ay) + rate * an * (ONE - an)) // (ONE * ONE)
            if ONE - ay - an - fees < self.min_edge:
                continue
            pair.cooldown_until = now + self.cooldown_s
            decided_ns = time.monotonic_ns()
            first, second = self._legs
            await first.stream.send_all(self._order(first.head, pair.yes, ay))
            first_ns = time.monotonic_ns()
            await second.stream.send_all(self._order(second.head, pair.no, an))
            second_ns = time.monotonic_ns()
            self.triggers.append(Trigger(read_ns, decided_ns, first_ns, second_ns))
            await first.read_reply()
            await second.read_reply()

    def _order(self, head: bytes, token: str, price: int) -> bytes:
        self._salt += 1
        maker = price * self.size // ONE
        body = (
            b'{"order":{"salt":%d,"tokenId":"%s","makerAmount":"%d","takerAmount":"%d",'
            b'"side":"BUY","signatureType":0},"owner":"bench-bot","orderType":"FOK"}'
            % (self._salt, token.encode(), maker, self.size)
        )
        return b"%s%d\r\n\r\n%s" % (head, len(body), body)


async def _read_frames(ws: trio.abc.Stream, protocol: ClientProtocol) -> tuple[int, list[bytes]]:
    """One socket read: its time (before the parse) and the data frames it completed;
    answers pings in the same task."""
    data = await ws.receive_some(65_536)
    read_ns = time.monotonic_ns()
    if not data:
        raise trio.BrokenResourceError("the venue closed the market socket")
    protocol.receive_data(data)
    frames = [
        bytes(e.data)
        for e in protocol.events_received()
        if isinstance(e, Frame) and e.opcode is Opcode.TEXT and e.fin
    ]
    out = protocol.data_to_send()
    if out:
        await ws.send_all(b"".join(out))
    return read_ns, frames


async def _handshake(stream: trio.abc.Stream, protocol: ClientProtocol) -> None:
    protocol.send_request(protocol.connect())
    await stream.send_all(b"".join(protocol.data_to_send()))
    while protocol.state is State.CONNECTING:
        data = await stream.receive_some(65_536)
        if not data:
            raise trio.BrokenResourceError("the venue closed the socket during the handshake")
        protocol.receive_data(data)
    if protocol.handshake_exc is not None:
        raise protocol.handshake_exc
