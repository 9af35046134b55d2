"""Decoders raise DecodeError and nothing else, whatever the input."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import DecodeError
from protocols.venues import binance, kalshi, polymarket
from tests.protocols.helpers import frames

Decode = Callable[[bytes], object]

DECODERS: dict[str, tuple[Decode, list[bytes]]] = {
    "polymarket": (lambda b: polymarket.MarketDecoder().decode(b, 1), frames("polymarket_market")),
    "polymarket-user": (lambda b: polymarket.UserDecoder().decode(b, 1), frames("polymarket_user")),
    "polymarket-rest-book": (lambda b: polymarket.decode_rest_book(b, 1), []),
    "polymarket-order": (polymarket.decode_post_order_response, []),
    "kalshi": (lambda b: kalshi.Decoder().decode(b, 1), frames("kalshi_ws")),
    "kalshi-order": (kalshi.decode_create_order_response, []),
    "binance": (lambda b: binance.Decoder().decode(b, 1), frames("binance_spot")),
}
NAMES = sorted(DECODERS)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["0.5", "-1", "1e9", "99999999999999999999.5", "", "BUY", "yes", "book"]),
)
json_values = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def only_decode_error(decode: Decode, data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(data)


def mutate(value: Any, path: list[int], replacement: Any) -> Any:
    """Replace the node reached by following ``path`` (indices modulo fan-out)."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    if isinstance(value, dict):
        keys = list(value)
        key = keys[path[0] % len(keys)]
        return {**value, key: mutate(value[key], path[1:], replacement)}
    i = path[0] % len(value)
    return [*value[:i], mutate(value[i], path[1:], replacement), *value[i + 1 :]]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=200, derandomize=True)
@given(data=st.binary(max_size=300))
def test_random_bytes(name: str, data: bytes) -> None:
    only_decode_error(DECODERS[name][0], data)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=200, derandomize=True)
@given(value=json_values)
def test_random_json(name: str, value: Any) -> None:
    only_decode_error(DECODERS[name][0], msgspec.json.encode(value))


@pytest.mark.parametrize("name", ["polymarket", "polymarket-user", "kalshi", "binance"])
@settings(max_examples=300, derandomize=True)
@given(
    index=st.integers(min_value=0),
    path=st.lists(st.integers(min_value=0, max_value=50), max_size=5),
    replacement=json_values,
)
def test_mutated_valid_frames(name: str, index: int, path: list[int], replacement: Any) -> None:
    decode, lines = DECODERS[name]
    line = lines[index % len(lines)]
    try:
        doc = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return  # PONG or a deliberately broken fixture line
    only_decode_error(decode, msgspec.json.encode(mutate(doc, path, replacement)))


@pytest.mark.parametrize("name", ["polymarket", "polymarket-user", "kalshi", "binance"])
def test_every_truncation_of_every_fixture(name: str) -> None:
    decode, lines = DECODERS[name]
    for line in lines:
        for cut in range(len(line)):
            only_decode_error(decode, line[:cut])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "data",
    [
        b"[" * 100_000,
        b'{"a":' * 50_000,
        b'{"event_type":"book","asset_id":"1","bids":[{"price":"0.5","size":"'
        + b"9" * 5000
        + b'"}]}',
        b'{"type":"orderbook_delta","sid":1,"seq":' + b"9" * 400 + b',"msg":{}}',
        b'{"u":1e400,"s":"X","b":"1","B":"1","a":"1","A":"1"}',
        b"\xff\xfe\x00",
        "PONG".encode("utf-16"),
    ],
)
def test_hostile_inputs(name: str, data: bytes) -> None:
    only_decode_error(DECODERS[name][0], data)
