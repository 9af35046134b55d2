"""An executor driven by hand against the simulated venue, and what its tests share."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from actors.shutdown_phases import new_shutdown
from actors.sim.venue import SimVenue
from actors.trading.control import TradingControl
from actors.trading.executor import make_gates
from actors.trading.http_clients import build_clients
from actors.trading.ids import leg_order_id
from actors.trading.order_runner import OrderRunner
from actors.trading.retry import RetryPolicy
from actors.trading.unwind import ExecutionSettings
from protocols.config.trading import ExecutorConfig, HttpConfig, TradingConfig
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    InstrumentId,
    OrderIntent,
    Outcome,
    Side,
    TimeInForce,
    Venue,
)
from supervision import ActorContext, Mailbox
from supervision.actor import NodeStatus

_CA_FILES: dict[int, str] = {}  # a TLS sim's CA file, by id(sim)


def trust_sim_ca(sim: SimVenue, ca_file: str) -> None:
    """Clients built by :func:`exec_config` for ``sim`` trust its CA (a TLS sim)."""
    _CA_FILES[id(sim)] = ca_file


def forget_sim_ca(sim: SimVenue) -> None:
    _CA_FILES.pop(id(sim), None)


def exec_config(sim: SimVenue, **over: Any) -> ExecutorConfig:
    base = TradingConfig().executor
    return msgspec.structs.replace(
        base,
        polymarket=msgspec.structs.replace(base.polymarket, rest_url=sim.polymarket_rest_url),
        kalshi=msgspec.structs.replace(base.kalshi, rest_url=sim.kalshi_rest_url),
        http=HttpConfig(
            read_timeout_s=0.5, connect_timeout_s=0.5, ca_file=_CA_FILES.get(id(sim), "")
        ),
        **over,
    )


class Harness:
    """The executor's order runner over clients for ``cfg`` (default: paper against
    ``sim``, with ``over`` replaced); ``env`` stands in for the environment (live keys)."""

    def __init__(
        self,
        sim: SimVenue,
        *,
        cfg: ExecutorConfig | None = None,
        env: dict[str, str] | None = None,
        **over: Any,
    ) -> None:
        self.cfg = cfg or exec_config(sim, **over)
        self.clients = build_clients(self.cfg, env)
        self.out: list[Any] = []
        self.runner = OrderRunner(
            gates=make_gates(self.cfg, self.clients),
            emit=self.emit,
            retry=RetryPolicy(attempts=3, base_s=0.01, max_s=0.02),
            lookup_attempts=3,
        )
        self.control = TradingControl()
        self.settings = ExecutionSettings(max_leg_delay_s=2.0, unwind_max_slippage=200_000)

    async def emit(self, msg: Any) -> None:
        self.out.append(msg)

    def of(self, kind: type) -> list[Any]:
        return [m for m in self.out if isinstance(m, kind)]

    async def aclose(self) -> None:
        for c in self.clients.values():
            await c.aclose()


def kalshi_yes(sim: SimVenue) -> InstrumentId:
    return InstrumentId(venue=Venue.KALSHI, symbol=sim.markets[0].ticker, outcome=Outcome.YES)


def poly_yes(sim: SimVenue) -> InstrumentId:
    m = sim.markets[0]
    return InstrumentId(venue=Venue.POLYMARKET, symbol=m.yes_token, outcome=Outcome.YES)


def intent(
    opp: str,
    leg: int,
    inst: InstrumentId,
    price: int,
    size: int = 5 * SIZE_ONE,
    side: Side = Side.BUY,
) -> OrderIntent:
    return OrderIntent(
        client_order_id=leg_order_id(opp, leg),
        opportunity_id=opp,
        leg_index=leg,
        instrument=inst,
        side=side,
        limit_price=price,
        size=size,
        reserved=0,
        time_in_force=TimeInForce.FOK,
        recv_ns=0,
        detect_ns=0,
        intent_ns=0,
    )


def actor_context(path: str, inbox: Mailbox[Any]) -> ActorContext:
    return ActorContext(
        path=path,
        log=logging.LoggerAdapter(logging.getLogger(path)),
        mailboxes={inbox.name: inbox},
        shutdown=new_shutdown(),
        node=NodeStatus(),
    )
