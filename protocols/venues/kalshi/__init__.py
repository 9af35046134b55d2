"""Kalshi Trade API v2 wire formats: websocket commands and frames, REST orders, signing.

One module per job; every name is re-exported here, so ``from protocols.venues.kalshi
import X`` and ``kalshi.X`` work as they did when this was one module:

* :mod:`.wire`: the frames as they arrive (envelopes and payloads)
* :mod:`.control`: :class:`Control` (command responses) and ``KalshiMessage``
* :mod:`.decoder`: :class:`Decoder`, frame -> normalized messages
* :mod:`.sequencing`: :class:`SeqChecker`, per-sid sequence gaps
* :mod:`.commands`: ``subscribe``, ``unsubscribe``, ``update_subscription``
* :mod:`.orders`: REST create-order body and response, ack or reject
* :mod:`.signing`: RSA-PSS request signing and verification
* :mod:`._shared`: the venue name, the JSON encoder, number-field parsing

Frames decoded (envelope ``{"type", "sid", "seq"?, "msg", "id"?, "sending_ts_ms"?}``):
``orderbook_snapshot`` / ``orderbook_delta`` in the current fixed-point format
(``*_dollars_fp``, ``price_dollars``/``delta_fp``), the transitional one and the legacy
integer-cent one (``yes``/``no`` cents, ``price``/``delta``); ``ticker``; ``trade``;
``fill``; and the control frames ``subscribed``, ``ok``, ``unsubscribed``, ``error``
(as :class:`Control`). Unknown types are skipped and counted.

Normalization: a market's book is the YES view of ``InstrumentId(kalshi, ticker, YES)``.
Kalshi books are bids-only; a YES bid at p stays a bid at p and a NO bid at p becomes a
YES *ask* at 1 - p (exact in fixed point; Kalshi documents the equivalence), so the
quote cache keeps one ordinary book per market and ``protocols.book.mirror`` shows the
NO bids. Deltas are signed increments (``increment=True``).

Sequencing is per subscription id: :class:`SeqChecker`. Request signing (RSA-PSS,
SHA-256, salt = digest length) is pure computation given a key: :func:`sign_request`.
"""

from protocols.venues.kalshi._shared import VENUE
from protocols.venues.kalshi.commands import (
    Command,
    SubscribeParams,
    UnsubscribeParams,
    UpdateParams,
    subscribe,
    unsubscribe,
    update_subscription,
)
from protocols.venues.kalshi.control import Control, ControlKind, KalshiMessage
from protocols.venues.kalshi.decoder import Decoder
from protocols.venues.kalshi.orders import (
    CreateOrderRequest,
    CreateOrderResponse,
    RestOrder,
    create_order_request,
    decode_create_order_response,
    encode_create_order,
    order_outcome,
)
from protocols.venues.kalshi.sequencing import SeqChecker
from protocols.venues.kalshi.signing import load_private_key, sign_request, verify_signature
from protocols.venues.kalshi.wire import (
    DeltaMsg,
    ErrorMsg,
    FillMsg,
    OkMsg,
    SnapshotMsg,
    SubscribedMsg,
    TickerMsg,
    TradeMsg,
    WireDelta,
    WireError,
    WireFill,
    WireFrame,
    WireOk,
    WireSnapshot,
    WireSubscribed,
    WireTicker,
    WireTrade,
    WireUnsubscribed,
)

__all__ = [
    "VENUE",
    "Command",
    "Control",
    "ControlKind",
    "CreateOrderRequest",
    "CreateOrderResponse",
    "Decoder",
    "DeltaMsg",
    "ErrorMsg",
    "FillMsg",
    "KalshiMessage",
    "OkMsg",
    "RestOrder",
    "SeqChecker",
    "SnapshotMsg",
    "SubscribeParams",
    "SubscribedMsg",
    "TickerMsg",
    "TradeMsg",
    "UnsubscribeParams",
    "UpdateParams",
    "WireDelta",
    "WireError",
    "WireFill",
    "WireFrame",
    "WireOk",
    "WireSnapshot",
    "WireSubscribed",
    "WireTicker",
    "WireTrade",
    "WireUnsubscribed",
    "create_order_request",
    "decode_create_order_response",
    "encode_create_order",
    "load_private_key",
    "order_outcome",
    "sign_request",
    "subscribe",
    "unsubscribe",
    "update_subscription",
    "verify_signature",
]
