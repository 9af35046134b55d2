"""Live-mode Polymarket against the simulated CLOB playing the real one: it checks every
private request's L2 headers and every order's EIP-712 signature with a second
implementation (Polymarket's SDK and eth-account, ``actors/sim/polymarket_auth.py``), and
an order's venue id is its EIP-712 hash, as on the real venue."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import msgspec
import pytest
import trio

from actors.shutdown_phases import new_shutdown
from actors.sim.config import FaultKind, SimConfig
from actors.sim.config import Venue as SimV
from actors.sim.matching.orders import API_KEY as SIM_API_KEY
from actors.sim.polymarket_auth import PolymarketAuth
from actors.sim.venue import SimVenue, open_sim_venue
from actors.trading.http_clients import LiveModeRefused, build_clients
from actors.trading.kalshi_client import KalshiClient
from actors.trading.polymarket_account import PolymarketAccount
from actors.trading.polymarket_client import PolymarketClient
from actors.trading_tree import build_trading_path
from protocols.config.trading import (
    ExecutorConfig,
    FundLimitsConfig,
    FundManagerConfig,
    HttpConfig,
    TradingConfig,
)
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    Fill,
    InstrumentId,
    Opportunity,
    OpportunityLeg,
    OrderReject,
    Outcome,
    Side,
    Venue,
)
from protocols.venues.polymarket.signing import OrderSigner
from supervision import ChildSpec, Mailbox, OverflowPolicy, SupervisorSpec
from supervision.tree import open_tree
from tests.trading.executor_harness import Harness
from tests.trading.helpers import FAST_CHANNEL, buy_intent, until

pytestmark = pytest.mark.slow

# The first two well-known keys of local Ethereum dev chains (Hardhat/Anvil): never funded.
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
SECRET = base64.urlsafe_b64encode(b"arbtree-test-secret-32-bytes-xx!").decode()
PASSPHRASE = "test-passphrase"


def live_env(**over: str) -> dict[str, str]:
    env = {
        "ARBTREE_LIVE": "yes",
        "POLYMARKET_PRIVATE_KEY": KEY,
        "POLYMARKET_API_KEY": SIM_API_KEY,  # the key the sim's user channel reports as owner
        "POLYMARKET_API_SECRET": SECRET,
        "POLYMARKET_API_PASSPHRASE": PASSPHRASE,
    }
    env.update(over)
    return {k: v for k, v in env.items() if v}


def live_config(
    sim: SimVenue, *, neg_risk: tuple[str, ...] = (), channel: bool = False
) -> ExecutorConfig:
    """Live mode with only Polymarket enabled, pointed at the sim."""
    base = TradingConfig().executor
    replace = msgspec.structs.replace
    return replace(
        base,
        mode="live",
        live=True,
        polymarket=replace(
            base.polymarket,
            rest_url=sim.polymarket_rest_url,
            user_ws_url=sim.polymarket_user_ws_url if channel else "",
            neg_risk_tokens=list(neg_risk),
        ),
        kalshi=replace(base.kalshi, enabled=False),
        http=HttpConfig(read_timeout_s=1.0),
        user_channel=FAST_CHANNEL,
    )


def check_auth(sim: SimVenue, *, neg_risk: tuple[str, ...] = ()) -> None:
    sim.polymarket_auth = PolymarketAuth(
        address=ADDRESS,
        api_key=SIM_API_KEY,
        secret=SECRET,
        passphrase=PASSPHRASE,
        neg_risk_tokens=frozenset(neg_risk),
    )


def token(sim: SimVenue, outcome: Outcome = Outcome.YES) -> InstrumentId:
    m = sim.markets[0]
    symbol = m.yes_token if outcome is Outcome.YES else m.no_token
    return InstrumentId(venue=Venue.POLYMARKET, symbol=symbol, outcome=outcome)


def live_runner(sim: SimVenue, env: dict[str, str], neg_risk: tuple[str, ...] = ()) -> Harness:
    return Harness(sim, cfg=live_config(sim, neg_risk=neg_risk), env=env)


def poly_order_ids(sim: SimVenue) -> list[str]:
    return [oid for oid, o in sim.exchange.orders.items() if o.venue == "polymarket"]


@pytest.fixture
async def sim() -> Any:
    async with open_sim_venue(SimConfig(seed=7, markets=2, rate=20.0, window_rate=0.0)) as venue:
        yield venue


async def test_live_orders_are_signed_and_every_request_is_authenticated(sim: SimVenue) -> None:
    check_auth(sim)
    live = live_runner(sim, live_env())
    with trio.fail_after(10):
        result = await live.runner.place(buy_intent("live1", token(sim)))
        assert (result.resolved, result.filled) == (True, 5 * SIZE_ONE), result
        # The venue filed the order under the hash of what it verified (the SDK's digest),
        # and the fill names that id: the client's own digest agreed with it.
        (order_id,) = poly_order_ids(sim)
        assert order_id.startswith("0x")
        assert len(order_id) == 66
        assert {f.venue_order_id for f in live.of(Fill)} == {order_id}
        account = await live.clients[Venue.POLYMARKET].account()  # an L2-signed GET
        assert account.cash == sim.exchange.poly.cash

        # The reply is lost: the order is found by the hash computed before sending
        # (an L2-signed lookup), never sent twice.
        sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=SimV.POLYMARKET, count=1)
        result = await live.runner.place(buy_intent("live2", token(sim, Outcome.NO)))
    assert (result.resolved, result.filled) == (True, 5 * SIZE_ONE), result
    assert live.runner.counters["ambiguous_resolved"] == 1
    assert len(poly_order_ids(sim)) == 2
    await live.aclose()


async def test_the_venue_refuses_a_wrong_secret_and_nothing_trades(sim: SimVenue) -> None:
    check_auth(sim)
    wrong = base64.urlsafe_b64encode(b"not-the-secret-not-the-secret-!!").decode()
    live = live_runner(sim, live_env(POLYMARKET_API_SECRET=wrong))
    with trio.fail_after(10):
        result = await live.runner.place(buy_intent("nosecret", token(sim)))
    assert (result.resolved, result.filled) == (True, 0), result
    (reject,) = live.of(OrderReject)
    assert "Unauthorized" in reject.venue_code
    assert "bad signature" in reject.venue_code
    assert poly_order_ids(sim) == []
    await live.aclose()


async def test_a_neg_risk_market_is_signed_for_the_neg_risk_exchange(sim: SimVenue) -> None:
    neg = token(sim)
    check_auth(sim, neg_risk=(neg.symbol,))
    unaware = live_runner(sim, live_env())
    aware = live_runner(sim, live_env(), neg_risk=(neg.symbol,))
    with trio.fail_after(10):
        refused = await unaware.runner.place(buy_intent("nr1", neg))
        assert refused.filled == 0
        (reject,) = unaware.of(OrderReject)
        assert reject.venue_code == "invalid order signature"
        assert poly_order_ids(sim) == []
        accepted = await aware.runner.place(buy_intent("nr2", neg))
    assert accepted.filled == 5 * SIZE_ONE
    assert len(poly_order_ids(sim)) == 1
    await unaware.aclose()
    await aware.aclose()


async def test_the_live_tree_trades_and_hears_its_fills_on_the_authenticated_channel(
    sim: SimVenue,
) -> None:
    check_auth(sim)
    opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
    cfg = TradingConfig(
        fund=FundManagerConfig(limits=FundLimitsConfig(max_opportunity_age_s=5.0, min_profit="0")),
        executor=live_config(sim, channel=True),
    )
    spec, _, handles = build_trading_path(cfg, opportunities=opps, env=live_env())
    control = handles.control
    legs = tuple(
        OpportunityLeg(
            instrument=token(sim, o), side=Side.BUY, limit_price=990_000, size=10 * SIZE_ONE
        )
        for o in (Outcome.YES, Outcome.NO)
    )
    now = time.monotonic_ns()
    opp = Opportunity(
        opportunity_id="complement",
        strategy="t",
        legs=legs,
        expected_edge=1,
        fees=0,
        venue_ts_ms=0,
        recv_ns=now,
        detect_ns=now,
    )
    stats: dict[str, Any] = {}

    def settled() -> bool:
        stats.update(control.statistics())
        channel = stats.get("user_channel_polymarket", {}).get("fills", 0)
        return bool(
            stats["fund_manager"]["fills"] >= 2 and channel >= 2 and stats["executor"]["executions"]
        )

    root = SupervisorSpec(children=(ChildSpec(id="trading", start=spec),))
    with trio.fail_after(20):
        async with open_tree(root, name="t", shutdown=new_shutdown()) as tree:
            # Reconciled against the venue's balance (an L2-signed read), channel subscribed.
            await until(
                lambda: (
                    "fund_manager" in control.stats_sources
                    and not control.ladder.holds
                    and handles.user_channels.live(Venue.POLYMARKET)
                )
            )
            # Its warm connections are open (each an L2-signed balance read).
            warm = cfg.executor.http.keep_warm_connections
            await until(lambda: control.statistics()["executor"]["warm_reads"] >= warm)
            await opps.send(opp)
            await until(settled)
            assert stats["executor"]["executions"] == {"complete": 1}
            # Both legs written from the executor's own step (readied requests carry their
            # L2 headers too).
            assert stats["executor"]["orders"]["sent_now"] == 2
            assert stats["fund_manager"]["fills"] == 2  # channel and REST agree: no double count
            assert len(poly_order_ids(sim)) == 2
            tree.request_shutdown("test over")


def test_live_polymarket_refuses_without_its_keys_and_never_quotes_one(tmp_path: Any) -> None:
    cfg = TradingConfig().executor
    cfg = msgspec.structs.replace(
        cfg,
        mode="live",
        live=True,
        kalshi=msgspec.structs.replace(cfg.kalshi, enabled=False),
        polymarket=msgspec.structs.replace(cfg.polymarket, rest_url="http://127.0.0.1:9"),
    )
    with pytest.raises(LiveModeRefused) as info:
        build_clients(cfg, {"ARBTREE_LIVE": "yes"})
    for name in (
        "POLYMARKET_PRIVATE_KEY",
        "POLYMARKET_API_KEY",
        "POLYMARKET_API_SECRET",
        "POLYMARKET_API_PASSPHRASE",
    ):
        assert name in str(info.value)
    # The trading tree refuses as it is built, before any actor starts.
    opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
    with pytest.raises(LiveModeRefused, match="POLYMARKET_API_KEY"):
        build_trading_path(
            TradingConfig(executor=cfg), opportunities=opps, env={"ARBTREE_LIVE": "yes"}
        )
    with pytest.raises(LiveModeRefused, match="32 hex-encoded bytes") as info:
        build_clients(cfg, live_env(POLYMARKET_PRIVATE_KEY="0xdeadbeef-secret"))
    assert "deadbeef" not in str(info.value)
    with pytest.raises(LiveModeRefused, match="not the key's address"):
        build_clients(cfg, live_env(POLYMARKET_FUNDER="0x" + "11" * 20))
    proxy = msgspec.structs.replace(
        cfg, polymarket=msgspec.structs.replace(cfg.polymarket, signature_type="proxy")
    )
    with pytest.raises(LiveModeRefused, match="POLYMARKET_FUNDER"):
        build_clients(proxy, live_env())
    key_file = tmp_path / "poly.key"
    key_file.write_text(OTHER_KEY + "\n")
    env = live_env(
        POLYMARKET_PRIVATE_KEY="",
        POLYMARKET_PRIVATE_KEY_PATH=str(key_file),
        POLYMARKET_FUNDER="0x" + "22" * 20,
    )
    client = build_clients(proxy, env)[Venue.POLYMARKET]
    credentials = client.credentials  # type: ignore[union-attr]
    assert credentials is not None
    assert credentials.funder == "0x" + "22" * 20
    assert credentials.signature_type == 1
    for shown in (repr(credentials), repr(client)):
        for secret in (OTHER_KEY[2:], SECRET, PASSPHRASE):
            assert secret not in shown


async def test_a_rehearsal_neither_signs_nor_remembers_a_live_order(
    sim: SimVenue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executor's rehearsal builds a live order unsigned (no ECDSA, no L2 HMAC) and
    leaves no memo behind; the real order is then signed once and fills."""
    check_auth(sim)
    live = live_runner(sim, live_env())
    client = live.clients[Venue.POLYMARKET]
    assert isinstance(client, PolymarketClient)
    account = client.credentials
    assert account is not None
    signed: list[str] = []
    sign, headers = OrderSigner.sign, PolymarketAccount.headers

    def counted_sign(self: OrderSigner, *args: Any, **kwargs: Any) -> Any:
        signed.append("order")
        return sign(self, *args, **kwargs)

    def counted_headers(self: PolymarketAccount, *args: Any) -> dict[str, str]:
        signed.append("l2")
        return headers(self, *args)

    monkeypatch.setattr(OrderSigner, "sign", counted_sign)
    monkeypatch.setattr(PolymarketAccount, "headers", counted_headers)
    it = buy_intent("rehearsed", token(sim))
    assert client.rehearse_order(it) > 0
    assert signed == []
    assert client._bodies == {}
    with trio.fail_after(10):
        result = await live.runner.place(it)
    assert (result.resolved, result.filled) == (True, 5 * SIZE_ONE), result
    assert signed.count("order") == 1
    await live.aclose()


def test_a_kalshi_rehearsal_does_not_sign() -> None:
    calls: list[tuple[str, str]] = []

    def signer(method: str, path: str) -> dict[str, str]:
        calls.append((method, path))
        return {"KALSHI-ACCESS-SIGNATURE": "sig"}

    client = KalshiClient(
        http=httpx.AsyncClient(base_url="http://127.0.0.1:9/trade-api/v2"), signer=signer
    )
    it = buy_intent("k", InstrumentId(venue=Venue.KALSHI, symbol="KX-1", outcome=Outcome.YES))
    assert client.rehearse_order(it) > 0
    assert calls == []
    assert "KALSHI-ACCESS-SIGNATURE" in client.order_parts(it)[2]  # the real one is signed
    assert calls == [("POST", "/trade-api/v2/portfolio/orders")]
