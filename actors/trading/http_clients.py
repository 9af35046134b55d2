"""HTTP venue clients (httpx, one pooled keep-alive AsyncClient per venue, explicit
timeouts) for the simulated venue (paper) and the real venues (live): which to build.

The clients live in ``kalshi_client`` and ``polymarket_client``, on ``client_base``.
"""

from __future__ import annotations

from actors.trading.client_base import LIVE_ENV, LiveModeRefused, Secret, check_live_switches
from actors.trading.http_transport import make_http_client
from actors.trading.kalshi_client import KalshiClient, kalshi_signer_from_env
from actors.trading.polymarket_account import PolymarketAccount, polymarket_account_from_env
from actors.trading.polymarket_client import PAPER_OWNER, PolymarketClient
from protocols.config.trading import ExecutorConfig
from protocols.fixed import parse_units
from protocols.messages import Venue

__all__ = [
    "LIVE_ENV",
    "KalshiClient",
    "LiveModeRefused",
    "PolymarketAccount",
    "PolymarketClient",
    "Secret",
    "build_clients",
    "check_live_keys",
    "check_live_switches",
    "kalshi_signer_from_env",
    "polymarket_account_from_env",
]


VenueClientT = KalshiClient | PolymarketClient


def check_live_keys(cfg: ExecutorConfig, env: dict[str, str] | None = None) -> None:
    """In live mode, load every enabled venue's keys once, so a missing or unusable one
    refuses the start (:class:`LiveModeRefused`) instead of failing the executor later."""
    if cfg.mode != "live":
        return
    if cfg.kalshi.enabled:
        kalshi_signer_from_env(env)
    if cfg.polymarket.enabled:
        polymarket_account_from_env(cfg.polymarket, env)


def build_clients(
    cfg: ExecutorConfig, env: dict[str, str] | None = None
) -> dict[Venue, VenueClientT]:
    """Clients for every enabled venue; live mode checks both switches and the keys first
    (raises :class:`LiveModeRefused` with the reason)."""
    check_live_switches(cfg, env)
    live = cfg.mode == "live"
    out: dict[Venue, VenueClientT] = {}
    if cfg.kalshi.enabled:
        signer = kalshi_signer_from_env(env) if live else None
        if not cfg.kalshi.rest_url:
            raise ValueError("executor.kalshi.rest_url is empty")
        base = cfg.kalshi.rest_url.rstrip("/")
        prefix = "/trade-api/v2" if base.endswith("/trade-api/v2") else ""
        out[Venue.KALSHI] = KalshiClient(
            http=make_http_client(cfg.http, base),
            prefix=prefix,
            signer=signer,
            tick=parse_units(cfg.kalshi.tick_size),
        )
    if cfg.polymarket.enabled:
        pcfg = cfg.polymarket
        credentials = polymarket_account_from_env(pcfg, env) if live else None
        if not pcfg.rest_url:
            raise ValueError("executor.polymarket.rest_url is empty")
        out[Venue.POLYMARKET] = PolymarketClient(
            http=make_http_client(cfg.http, pcfg.rest_url.rstrip("/")),
            tick=parse_units(pcfg.tick_size),
            credentials=credentials,
            owner=credentials.api_key if credentials is not None else PAPER_OWNER,
            neg_risk_tokens=frozenset(pcfg.neg_risk_tokens),
            positions_url=pcfg.positions_url.rstrip("/"),
        )
    return out
