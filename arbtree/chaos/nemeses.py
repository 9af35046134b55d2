"""The named faults (nemeses), each with its category, how its parameters are drawn from
the seed, how it is injected and how it is healed.

Network faults are toxics on the run's proxies (Toxiproxy's vocabulary); venue faults go
through the sim's control API; actor faults through the bot's control endpoint; storage
faults pause the embedded PostgreSQL (SIGSTOP/SIGCONT: only a server the harness owns) or
act on its proxy; process faults signal the bot and start it again on its run directory.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from arbtree.chaos.system import RunSystem
from arbtree.chaos.toxics import Toxic

Params = dict[str, Any]
Action = Callable[[RunSystem, Params], Awaitable[str]]

# Workers a fault may hit: not the control endpoint (the harness's own way in).
ACTOR_TARGETS = (
    "arbtree/trading/executor",
    "arbtree/trading/fund_manager",
    "arbtree/market/detector",
    "arbtree/market/quote_cache",
    "arbtree/storage/db_writer",
)


RESTART_READY_S = 15.0  # a restarted bot that is not ready by then is reported as such


class NemesisFailed(RuntimeError):
    """The fault could not be injected (the system refused or was not there)."""


async def _nothing(system: RunSystem, params: Params) -> str:
    return ""


@attrs.frozen
class Nemesis:
    name: str
    category: str  # network | venue | actor | storage | process
    description: str
    draw: Callable[[random.Random], tuple[Params, float]]  # (params, duration s)
    start: Action
    stop: Action = _nothing


# -- network ---------------------------------------------------------------------------------


def _toxic_nemesis(
    name: str,
    description: str,
    proxies: tuple[str, ...],
    make: Callable[[random.Random], Toxic],
    duration: tuple[float, float],
) -> Nemesis:
    def draw(rng: random.Random) -> tuple[Params, float]:
        return {"toxic": make(rng).to_json(), "proxies": list(proxies)}, rng.uniform(*duration)

    async def start(system: RunSystem, params: Params) -> str:
        toxic = Toxic.from_json(params["toxic"])
        for proxy in params["proxies"]:
            system.proxies[proxy].add_toxic(toxic)
        return f"{toxic.type} on {', '.join(params['proxies'])}"

    async def stop(system: RunSystem, params: Params) -> str:
        name_ = Toxic.from_json(params["toxic"]).name
        for proxy in params["proxies"]:
            if any(t.name == name_ for t in system.proxies[proxy].toxics):
                system.proxies[proxy].remove_toxic(name_)
        return ""

    return Nemesis(name, "network", description, draw, start, stop)


WS = ("polymarket_ws", "kalshi_ws")
REST = ("rest",)
DB = ("db",)


def _down(proxy: str, description: str, duration: tuple[float, float]) -> Nemesis:
    async def start(system: RunSystem, params: Params) -> str:
        system.proxies[proxy].disable()
        return f"{proxy} proxy down"

    async def stop(system: RunSystem, params: Params) -> str:
        system.proxies[proxy].enable()
        return ""

    return Nemesis(
        f"net_{proxy}_down",
        "network",
        description,
        lambda r: ({}, r.uniform(*duration)),
        start,
        stop,
    )


NETWORK = [
    _toxic_nemesis(
        "net_ws_latency",
        "venue feeds delayed 200-800 ms with 100 ms jitter",
        WS,
        lambda r: Toxic.of("latency", latency=r.randint(200, 800), jitter=100),
        (3, 8),
    ),
    _toxic_nemesis(
        "net_ws_bandwidth",
        "venue feeds throttled to 2-10 KB/s",
        WS,
        lambda r: Toxic.of("bandwidth", rate=r.randint(2, 10)),
        (3, 8),
    ),
    _toxic_nemesis(
        "net_ws_slicer",
        "venue feed bytes cut into 1-40 byte slices",
        WS,
        lambda r: Toxic.of("slicer", average_size=r.randint(8, 40), size_variation=7, delay=200),
        (3, 8),
    ),
    _toxic_nemesis(
        "net_ws_stall",
        "venue feeds half-open: data held, connection kept (timeout 0)",
        WS,
        lambda r: Toxic.of("timeout", timeout=0),
        (3, 8),
    ),
    _toxic_nemesis(
        "net_ws_timeout",
        "venue feeds stop, then close after 1-3 s",
        WS,
        lambda r: Toxic.of("timeout", timeout=r.randint(1000, 3000)),
        (3, 6),
    ),
    _toxic_nemesis(
        "net_ws_reset",
        "venue feed connections reset (RST) after 0-2 s",
        WS,
        lambda r: Toxic.of("reset_peer", timeout=r.randint(0, 2000)),
        (2, 6),
    ),
    _toxic_nemesis(
        "net_ws_limit_data",
        "venue feed connections cut after 2-50 KB",
        WS,
        lambda r: Toxic.of("limit_data", bytes=r.randint(2_000, 50_000)),
        (3, 8),
    ),
    _toxic_nemesis(
        "net_ws_slow_close",
        "venue feed closes passed on 1-3 s late",
        WS,
        lambda r: Toxic.of("slow_close", delay=r.randint(1000, 3000)),
        (3, 8),
    ),
    _toxic_nemesis(
        "net_rest_latency",
        "order requests delayed 300-1500 ms on the way out",
        REST,
        lambda r: Toxic.of("latency", stream="upstream", latency=r.randint(300, 1500), jitter=100),
        (3, 8),
    ),
    _toxic_nemesis(
        "net_rest_reset",
        "order connections reset once the request may have landed (ambiguous orders)",
        REST,
        lambda r: Toxic.of("reset_peer", timeout=r.randint(0, 300)),
        (2, 5),
    ),
    _toxic_nemesis(
        "net_db_latency",
        "database round trips delayed 100-500 ms",
        DB,
        lambda r: Toxic.of("latency", latency=r.randint(100, 500), jitter=50),
        (3, 8),
    ),
    _toxic_nemesis(
        "net_db_bandwidth",
        "database connection throttled to 5-20 KB/s",
        DB,
        lambda r: Toxic.of("bandwidth", rate=r.randint(5, 20)),
        (3, 8),
    ),
    _down("db", "database unreachable: connections closed and refused", (3, 8)),
    _down("rest", "venue REST unreachable: connections closed and refused", (2, 5)),
]


# -- venue (the sim's control API) ------------------------------------------------------------


def _venue(
    name: str,
    description: str,
    draw: Callable[[random.Random], Params],
    duration: tuple[float, float] = (2, 6),
) -> Nemesis:
    def draw_all(rng: random.Random) -> tuple[Params, float]:
        return draw(rng), rng.uniform(*duration)

    async def start(system: RunSystem, params: Params) -> str:
        r = await system.sim_action("/faults", params)
        if r.status_code != 200:
            raise NemesisFailed(f"sim refused {params}: {r.text}")
        return f"sim {params['kind']}"

    async def stop(system: RunSystem, params: Params) -> str:
        await system.sim_action("/faults/clear", {})
        return ""

    return Nemesis(name, "venue", description, draw_all, start, stop)


def _venue_name(r: random.Random) -> str:
    return r.choice(["polymarket", "kalshi"])


VENUE = [
    _venue(
        "venue_ws_stall",
        "a venue's feed goes silent, pings still answered",
        lambda r: {"kind": "ws_stall", "venue": _venue_name(r), "duration": r.uniform(2, 6)},
    ),
    _venue(
        "venue_ws_close",
        "a venue's websockets dropped (1006)",
        lambda r: {"kind": "ws_close", "venue": _venue_name(r)},
    ),
    _venue(
        "venue_malformed",
        "a burst of 5-50 malformed frames",
        lambda r: {"kind": "ws_malformed", "venue": _venue_name(r), "count": r.randint(5, 50)},
    ),
    _venue(
        "venue_seq_gap",
        "Kalshi sequence gap",
        lambda r: {"kind": "kalshi_seq_gap", "count": r.randint(1, 5)},
    ),
    _venue(
        "venue_bad_hash",
        "wrong Polymarket book hashes",
        lambda r: {"kind": "poly_bad_hash", "count": r.randint(1, 10)},
    ),
    _venue(
        "venue_rest_500",
        "REST answers 500",
        lambda r: {"kind": "rest_500", "count": r.randint(1, 20)},
    ),
    _venue(
        "venue_rest_429",
        "REST answers 429",
        lambda r: {"kind": "rest_429", "count": r.randint(1, 20)},
    ),
    _venue(
        "venue_rest_slow",
        "REST answers 1-3 s late",
        lambda r: {"kind": "rest_slow", "count": r.randint(5, 40), "delay": r.uniform(1, 3)},
    ),
    _venue(
        "venue_rest_timeout",
        "REST requests held 2-6 s, then dropped",
        lambda r: {"kind": "rest_timeout", "count": r.randint(1, 5), "duration": r.uniform(2, 6)},
    ),
    _venue(
        "venue_drop_response",
        "orders executed, replies lost (ambiguous)",
        lambda r: {"kind": "rest_drop", "count": r.randint(1, 5)},
    ),
    _venue(
        "venue_trade_failed",
        "Polymarket trades settle FAILED",
        lambda r: {"kind": "poly_trade_failed", "count": r.randint(1, 3)},
    ),
]


# -- actors (the bot's control endpoint) ---------------------------------------------------------


def _actor(name: str, description: str, kind: str) -> Nemesis:
    def draw(rng: random.Random) -> tuple[Params, float]:
        return {"path": rng.choice(ACTOR_TARGETS)}, rng.uniform(1, 4)

    async def start(system: RunSystem, params: Params) -> str:
        if kind == "restart":
            r = await system.bot_action("restart", {"path": params["path"], "reason": "chaos"})
        else:
            r = await system.bot_action("fault", {"kind": kind, "path": params["path"]})
        if r.status_code != 200:
            raise NemesisFailed(f"{kind} of {params['path']} refused: {r.status_code} {r.text}")
        return f"{kind} {params['path']}"

    async def stop(system: RunSystem, params: Params) -> str:
        if kind != "hang":
            return ""
        r = await system.bot_action("restart", {"path": params["path"], "reason": "chaos heal"})
        return f"restarted {params['path']}: {r.status_code}"

    return Nemesis(name, "actor", description, draw, start, stop)


async def _stall(system: RunSystem, params: Params) -> str:
    r = await system.bot_action("fault", {"kind": "stall", "ms": params["ms"]})
    if r.status_code != 200:
        raise NemesisFailed(f"stall refused: {r.text}")
    return f"loop blocked {params['ms']} ms"


async def _storm(system: RunSystem, params: Params) -> str:
    crashed = 0
    for _ in range(params["crashes"]):
        r = await system.bot_action("fault", {"kind": "crash", "path": params["path"]})
        crashed += r.status_code == 200
        await trio.sleep(0.3)
    return f"{crashed} crashes of {params['path']}"


async def _slow_stream_clients(system: RunSystem, params: Params) -> str:
    """Open ``streams`` tree streams on the control endpoint that never read a byte."""
    url = system.control_url()
    if not url:
        raise NemesisFailed("no control endpoint")
    host, port = url.removeprefix("http://").rsplit(":", 1)
    request = (f"GET /tree/stream?interval=0.05 HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").encode()
    opened: list[trio.SocketStream] = []
    for _ in range(params["streams"]):
        try:
            stream = await trio.open_tcp_stream(host, int(port))
            await stream.send_all(request)
        except OSError:
            break
        opened.append(stream)
    system.held_streams.extend(opened)
    return f"{len(opened)} slow /tree/stream clients"


async def _close_streams(system: RunSystem, params: Params) -> str:
    for stream in system.held_streams:
        await trio.aclose_forcefully(stream)
    system.held_streams.clear()
    return ""


ACTOR = [
    _actor("actor_crash", "an exception inside a worker", "crash"),
    _actor(
        "actor_hang",
        "a worker stops heartbeating and reading its mailbox, then is restarted",
        "hang",
    ),
    _actor("actor_restart", "an operator restart of a worker", "restart"),
    Nemesis(
        "loop_stall",
        "actor",
        "the event loop blocked 100-1500 ms",
        lambda r: ({"ms": r.randint(100, 1500)}, 1.0),
        _stall,
    ),
    Nemesis(
        "restart_storm",
        "actor",
        "one worker crashed 4-6 times in 2 s (beyond its supervisor's intensity)",
        lambda r: ({"path": r.choice(ACTOR_TARGETS), "crashes": r.randint(4, 6)}, 3.0),
        _storm,
    ),
    Nemesis(
        "control_slow_streams",
        "actor",
        "20-60 tree streams on the control endpoint that never read (slow clients)",
        lambda r: ({"streams": r.randint(20, 60)}, r.uniform(3, 8)),
        _slow_stream_clients,
        _close_streams,
    ),
]


# -- storage ------------------------------------------------------------------------------------


async def _db_pause(system: RunSystem, params: Params) -> str:
    if system.postgres.pgdata is None:
        raise NemesisFailed("db_pause needs the embedded database (the harness's own server)")
    n = system.postgres.signal_all(signal.SIGSTOP)
    return f"{n} postgres processes stopped"


async def _db_resume(system: RunSystem, params: Params) -> str:
    system.postgres.signal_all(signal.SIGCONT)
    return ""


async def _db_stop(system: RunSystem, params: Params) -> str:
    if system.postgres.server is None:
        raise NemesisFailed("db_restart needs the embedded database (the harness's own server)")
    await trio.to_thread.run_sync(system.postgres.stop_server)
    return "postgres stopped (pg_ctl -m fast)"


async def _db_start(system: RunSystem, params: Params) -> str:
    if system.postgres.server is not None:
        await trio.to_thread.run_sync(system.postgres.start_server)
    return ""


STORAGE = [
    Nemesis(
        "db_pause",
        "storage",
        "PostgreSQL paused (SIGSTOP), resumed (SIGCONT) 3-15 s later",
        lambda r: ({}, r.uniform(3, 15)),
        _db_pause,
        _db_resume,
    ),
    Nemesis(
        "db_restart",
        "storage",
        "PostgreSQL stopped (pg_ctl -m fast), started again 2-8 s later",
        lambda r: ({}, r.uniform(2, 8)),
        _db_stop,
        _db_start,
    ),
]


# -- process ------------------------------------------------------------------------------------


async def _sigkill(system: RunSystem, params: Params) -> str:
    await system.kill_bot()
    await trio.sleep(params["down_s"])
    await system.start_bot()
    ready = await system.wait_bot_ready(RESTART_READY_S)
    return f"bot SIGKILLed and restarted on its run directory (ready: {ready})"


async def _sigterm(system: RunSystem, params: Params) -> str:
    code = await system.stop_bot()
    if code != 0:
        raise NemesisFailed(f"the bot exited {code} on SIGTERM, not 0")
    await system.start_bot()
    ready = await system.wait_bot_ready(RESTART_READY_S)
    return f"bot SIGTERMed (exit {code}) and started again (ready: {ready})"


async def _sigterm_startup(system: RunSystem, params: Params) -> str:
    code = await system.stop_bot()
    await system.start_bot()
    await trio.sleep(params["after_s"])  # importing, connecting, reconciling
    early = await system.stop_bot()
    await system.start_bot()
    ready = await system.wait_bot_ready(RESTART_READY_S)
    return (
        f"bot SIGTERMed (exit {code}), SIGTERMed {params['after_s']:.1f} s into its "
        f"start-up (exit {early}), started again (ready: {ready})"
    )


async def _slow_orders(system: RunSystem, params: Params) -> None:
    """Hold order requests at the venue so that executions are in flight when the signal
    comes (REST answers ``delay`` s late for the next requests)."""
    body = {"kind": "rest_slow", "count": 40, "delay": params["delay_s"]}
    r = await system.sim_action("/faults", body)
    if r.status_code != 200:
        raise NemesisFailed(f"sim refused rest_slow: {r.text}")
    await trio.sleep(params["wait_s"])


async def _sigkill_inflight(system: RunSystem, params: Params) -> str:
    await _slow_orders(system, params)
    await system.kill_bot()
    await system.sim_action("/faults/clear", {})
    await system.start_bot()
    ready = await system.wait_bot_ready(RESTART_READY_S)
    return f"bot SIGKILLed with orders held at the venue, restarted (ready: {ready})"


async def _sigterm_inflight(system: RunSystem, params: Params) -> str:
    await _slow_orders(system, params)
    code = await system.stop_bot()
    await system.sim_action("/faults/clear", {})
    await system.start_bot()
    ready = await system.wait_bot_ready(RESTART_READY_S)
    return f"bot SIGTERMed with orders held at the venue (exit {code}), restarted (ready: {ready})"


PROCESS = [
    Nemesis(
        "bot_sigkill",
        "process",
        "the bot SIGKILLed mid-run, restarted on the same run directory 0.5-3 s later",
        lambda r: ({"down_s": r.uniform(0.5, 3)}, 1.0),
        _sigkill,
    ),
    Nemesis(
        "bot_sigterm",
        "process",
        "the bot SIGTERMed mid-run (phased shutdown), then started again",
        lambda r: ({}, 1.0),
        _sigterm,
    ),
    Nemesis(
        "bot_sigterm_startup",
        "process",
        "the bot SIGTERMed, started, and SIGTERMed again 0.3-3 s into its start-up",
        lambda r: ({"after_s": r.uniform(0.3, 3.0)}, 1.0),
        _sigterm_startup,
    ),
    Nemesis(
        "bot_sigkill_inflight",
        "process",
        "order replies held 1-3 s at the venue, the bot SIGKILLed meanwhile, restarted",
        lambda r: ({"delay_s": r.uniform(1, 3), "wait_s": r.uniform(1, 3)}, 1.0),
        _sigkill_inflight,
    ),
    Nemesis(
        "bot_sigterm_inflight",
        "process",
        "order replies held 1-3 s at the venue, the bot SIGTERMed meanwhile, restarted",
        lambda r: ({"delay_s": r.uniform(1, 3), "wait_s": r.uniform(1, 3)}, 1.0),
        _sigterm_inflight,
    ),
]

NEMESES: dict[str, Nemesis] = {n.name: n for n in (*NETWORK, *VENUE, *ACTOR, *STORAGE, *PROCESS)}
CATEGORIES = ("network", "venue", "actor", "storage", "process")
