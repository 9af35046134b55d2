""":class:`SimVenue`, the parts joined, and :func:`open_sim_venue`, which checks the host
is loopback, binds the ports, starts the driver and yields the running venue.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import trio
from trio_websocket import serve_websocket

from actors.sim.config import SimConfig, Venue
from actors.sim.http import serve_http
from actors.sim.tls import make_sim_tls
from actors.sim.venue.rest import RestServer
from actors.sim.venue.websocket import WebsocketServer


def check_loopback(host: str) -> None:
    """The sim serves loopback only: refuse anything else."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the sim binds loopback only, not {host!r}")


class SimVenue(RestServer, WebsocketServer):
    """A running simulated venue (see ``open_sim_venue``)."""


@asynccontextmanager
async def open_sim_venue(config: SimConfig | None = None) -> AsyncIterator[SimVenue]:
    """Run a simulated venue on loopback for the duration of the ``async with`` block."""
    config = config or SimConfig()
    check_loopback(config.host)
    epoch = config.epoch_ms if config.epoch_ms is not None else int(time.time() * 1000)
    sim = SimVenue(config, epoch)
    tls = make_sim_tls(config.host) if config.tls else None
    server_ssl = tls.server_context if tls is not None else None
    sim.ca_pem = tls.ca_pem if tls is not None else None
    gt = open(config.ground_truth_path, "a", encoding="utf-8") if config.ground_truth_path else None  # noqa: SIM115, ASYNC230
    sim._gt_file = gt
    try:
        async with trio.open_nursery() as nursery:
            poly = await nursery.start(
                serve_websocket,
                lambda r: sim._serve_conn(Venue.POLYMARKET, r),
                config.host,
                config.polymarket_port,
                server_ssl,
            )
            kalshi = await nursery.start(
                serve_websocket,
                lambda r: sim._serve_conn(Venue.KALSHI, r),
                config.host,
                config.kalshi_port,
                server_ssl,
            )
            sim.polymarket_port = poly.port
            sim.kalshi_port = kalshi.port
            sim.rest_port = await nursery.start(
                partial(serve_http, ssl_context=server_ssl),
                sim._http,
                config.host,
                config.rest_port,
            )
            if config.binance_port is not None:
                binance = await nursery.start(
                    serve_websocket,
                    lambda r: sim._serve_conn(Venue.BINANCE, r),
                    config.host,
                    config.binance_port,
                    server_ssl,
                )
                sim.binance_port = binance.port
            sim._t0 = trio.current_time()
            nursery.start_soon(sim._drive)
            if config.faults:
                nursery.start_soon(sim._scheduled_faults)
            try:
                yield sim
            finally:
                nursery.cancel_scope.cancel()
    finally:
        if gt is not None:
            gt.close()
