"""The order path's request builder produces what ``AsyncClient.build_request`` does."""

from __future__ import annotations

import httpx
import pytest

from actors.trading.http_transport import build_request


@pytest.mark.parametrize(
    ("method", "path", "content", "headers"),
    [
        ("POST", "/portfolio/orders", b'{"a":1}', {"content-type": "application/json"}),
        ("GET", "/balance-allowance", None, None),
        ("DELETE", "/order", b"{}", {"User-Agent": "arbtree", "KALSHI-ACCESS-KEY": "k"}),
        ("GET", "/data/order/0xabc", None, {"POLY_API_KEY": "x", "POLY_SIGNATURE": "y"}),
    ],
)
def test_same_request_as_httpxbuild_request(
    method: str, path: str, content: bytes | None, headers: dict[str, str] | None
) -> None:
    client = httpx.AsyncClient(
        base_url="http://127.0.0.1:9/trade-api/v2/",
        headers={"x-default": "1"},
        timeout=httpx.Timeout(1.0, read=2.5, pool=0.5),
    )
    for _ in range(2):  # first call prepares, the second reads the prepared parts
        ours = build_request(client, method, path, content, headers)
        ref = client.build_request(method, path, content=content, headers=headers)
        assert ours.method == ref.method
        assert ours.url == ref.url
        assert sorted(ours.headers.multi_items()) == sorted(ref.headers.multi_items())
        assert ours.extensions == ref.extensions
        assert ours.content == ref.content
