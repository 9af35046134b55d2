"""The simulated venue in a child process: ``open_sim_process(sim_config)``.

``arbtree run`` normally starts the sim in its own process and Trio loop (``[sim] process =
false``): convenient, and the tests reach its fault hooks and books. But then every
scheduler round of the trading path may also run the sim's book generation and websocket
fan-out, so a latency measurement includes the venue's own work. A real venue is another
machine; ``[sim] process = true`` (``arbtree run --sim-process``, ``arbtree bench e2e``)
runs the same ``open_sim_venue`` under ``trio.run`` in a child process
(``python -c CHILD_COMMAND FD``: a fresh interpreter, so nothing of the parent's
``__main__`` is re-run, unlike ``multiprocessing``'s spawn), and the trading system talks
to it over loopback only.

Parent and child talk over a socket pair wrapped in ``multiprocessing.connection``
(pickled tuples). Parent to child: ``("start", SimConfig)``, later ``"stop"``. Child to
parent: ``("ready", SimReady)`` once its ports are bound (or ``("error", text)``), and
``("stopped", windows)`` after the venue has closed. The child ignores SIGINT (Ctrl-C
reaches the whole process group; the parent's shutdown phases still need the venue) and
exits when the socket closes, so it never outlives its parent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import msgspec
import trio

from actors.sim import SimConfig, WindowRecord, open_sim_venue
from actors.sim.endpoints import SimEndpoints
from actors.sim.faults import Faults

log = logging.getLogger("arbtree.sim_process")

START_TIMEOUT_S = 30.0  # interpreter start, imports, binding the ports
STOP_TIMEOUT_S = 10.0  # the stop answer (windows), then the exit
KILL_TIMEOUT_S = 2.0  # after terminate(), before kill()
# Not ``-m arbtree.sim_process``: the pickled messages must name this module, not __main__.
CHILD_COMMAND = (
    "import sys; from arbtree.sim_process import child_main; sys.exit(child_main(int(sys.argv[1])))"
)


class SimProcessError(RuntimeError):
    """The simulated venue's child process failed to start, answer or stop."""


class ListedMarket(Protocol):
    """What the runner needs of a sim market: its listing, not its live books."""

    @property
    def index(self) -> int: ...
    @property
    def condition_id(self) -> str: ...
    @property
    def yes_token(self) -> str: ...
    @property
    def no_token(self) -> str: ...
    @property
    def ticker(self) -> str: ...
    @property
    def kalshi_market_id(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def fee_rate_ppm(self) -> int: ...


class MarketListing(msgspec.Struct, frozen=True, kw_only=True):
    """A sim market's listing, as the child process reports it (no books, no fair value)."""

    index: int
    condition_id: str
    yes_token: str
    no_token: str
    ticker: str
    kalshi_market_id: str
    category: str
    fee_rate_ppm: int

    @classmethod
    def of(cls, market: ListedMarket) -> MarketListing:
        return cls(
            index=market.index,
            condition_id=market.condition_id,
            yes_token=market.yes_token,
            no_token=market.no_token,
            ticker=market.ticker,
            kalshi_market_id=market.kalshi_market_id,
            category=market.category,
            fee_rate_ppm=market.fee_rate_ppm,
        )


class SimHandle(Protocol):
    """The simulated venue as the runner and the summary use it, in either mode.

    ``faults`` is None when the sim runs in a child process: fault injection, the sim's
    books and its exchange need the in-process ``actors.sim.SimVenue``."""

    @property
    def markets(self) -> Sequence[ListedMarket]: ...
    @property
    def polymarket_ws_url(self) -> str: ...
    @property
    def polymarket_user_ws_url(self) -> str: ...
    @property
    def kalshi_ws_url(self) -> str: ...
    @property
    def polymarket_rest_url(self) -> str: ...
    @property
    def kalshi_rest_url(self) -> str: ...
    @property
    def rest_url(self) -> str: ...
    @property
    def ca_pem(self) -> bytes | None: ...
    @property
    def windows(self) -> Sequence[WindowRecord]: ...
    @property
    def faults(self) -> Faults | None: ...


class SimReady(msgspec.Struct, frozen=True, kw_only=True):
    """The child's first message: where it listens and what it lists."""

    host: str
    polymarket_port: int
    kalshi_port: int
    rest_port: int
    markets: tuple[MarketListing, ...]
    ca_pem: bytes | None = None  # the CA to trust when the sim serves TLS


class SimProcess(SimEndpoints):
    """A running simulated venue in a child process (see ``open_sim_process``)."""

    faults: None = None  # fault hooks need the in-process sim

    def __init__(self, process: trio.Process, conn: Connection, ready: SimReady) -> None:
        self.process = process
        self._conn = conn
        self._ready = ready
        self.host = ready.host
        self.polymarket_port = ready.polymarket_port
        self.kalshi_port = ready.kalshi_port
        self.rest_port = ready.rest_port
        self.ca_pem = ready.ca_pem
        self._windows: list[WindowRecord] = []
        self._stopped = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def markets(self) -> tuple[MarketListing, ...]:
        return self._ready.markets

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def windows(self) -> list[WindowRecord]:
        """The ground truth: empty until the child has stopped (see ``stop``)."""
        return list(self._windows)

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> list[WindowRecord]:
        """Ask the child to stop, collect its windows and wait for it to exit; idempotent.

        Raises ``SimProcessError`` when it does not answer within ``timeout_s``; the
        ``open_sim_process`` block still terminates it on exit."""
        if self._stopped:
            return self.windows
        try:
            self._conn.send("stop")
        except OSError as exc:
            raise SimProcessError(
                f"the simulated venue's process (pid {self.pid}) is gone: {exc}"
            ) from exc
        message = await _receive(
            self._conn,
            timeout_s,
            f"the simulated venue's process (pid {self.pid}) did not "
            f"answer the stop request within {timeout_s:g} s",
        )
        if message[0] == "error":
            raise SimProcessError(f"the simulated venue's process failed:\n{message[1]}")
        if message[0] != "stopped":
            raise SimProcessError(f"unexpected answer to stop from the sim process: {message!r}")
        self._windows = list(message[1])
        self._stopped = True
        with trio.move_on_after(timeout_s):
            await self.process.wait()
        return self.windows


@asynccontextmanager
async def open_sim_process(
    config: SimConfig,
    *,
    start_timeout_s: float = START_TIMEOUT_S,
    stop_timeout_s: float = STOP_TIMEOUT_S,
    cpus: tuple[int, ...] = (),
) -> AsyncIterator[SimProcess]:
    """Run ``open_sim_venue(config)`` in a child process for the ``async with`` block.

    Yields once the child has bound its ports and reported its URLs and markets. On exit
    (also on an error or a cancellation) the child is asked to stop, its windows are kept
    on the handle, and it is terminated (then killed) if it does not exit in time: it
    never outlives the block. Every wait is bounded; a failure is a ``SimProcessError``.
    ``cpus``: pin the child to these CPUs (Linux only; ignored elsewhere)."""
    ours, theirs = socket.socketpair()
    conn = Connection(ours.detach())
    process: trio.Process | None = None
    handle: SimProcess | None = None
    try:
        with theirs:
            process = await trio.lowlevel.open_process(
                [sys.executable, "-c", CHILD_COMMAND, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=_child_env(),
            )
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(process.pid, cpus)
        # The child's end now lives in the child only: EOF on either side when one dies.
        conn.send(("start", config))
        message = await _receive(
            conn,
            start_timeout_s,
            f"the simulated venue's process (pid {process.pid}) was not ready within "
            f"{start_timeout_s:g} s",
        )
        if message[0] == "error":
            raise SimProcessError(f"the simulated venue's process failed to start:\n{message[1]}")
        if message[0] != "ready":
            raise SimProcessError(f"unexpected first message from the sim process: {message!r}")
        handle = SimProcess(process, conn, message[1])
        log.info("simulated venue in child process %s", process.pid)
        yield handle
    finally:
        with trio.CancelScope(shield=True):
            await _shut_down(process, conn, handle, stop_timeout_s)


def _child_env() -> dict[str, str]:
    """The parent's environment, with this checkout first on the child's import path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


async def _shut_down(
    process: trio.Process | None, conn: Connection, handle: SimProcess | None, timeout_s: float
) -> None:
    """Stop politely (the windows come back), then terminate, then kill; always close."""
    try:
        if process is None:
            return
        if handle is not None and not handle.stopped and process.returncode is None:
            try:
                await handle.stop(timeout_s)
            except SimProcessError as exc:
                log.warning("%s; terminating it", exc)
        if process.returncode is None:
            process.terminate()
            with trio.move_on_after(KILL_TIMEOUT_S):
                await process.wait()
        if process.returncode is None:
            process.kill()
            with trio.move_on_after(KILL_TIMEOUT_S):
                await process.wait()
        if process.returncode is None:
            log.error("the simulated venue's process (pid %s) did not exit", process.pid)
    finally:
        conn.close()


async def _receive(conn: Connection, timeout_s: float, timeout_message: str) -> Any:
    """The next message from the child, bounded; a dead child is an error, not a hang."""
    with trio.move_on_after(timeout_s) as scope:
        try:
            return await trio.to_thread.run_sync(conn.recv, abandon_on_cancel=True)
        except (EOFError, OSError) as exc:
            raise SimProcessError(
                "the simulated venue's process exited (its socket closed) before answering"
            ) from exc
    assert scope.cancelled_caught
    raise SimProcessError(timeout_message)


# -- the child ----------------------------------------------------------------------------


def child_main(fd: int) -> int:
    """The child's entry point (``CHILD_COMMAND``), FD its end of the socket pair."""
    # Ctrl-C goes to the whole process group: the parent decides when the venue stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return 1  # the parent is gone
        kind, config = request
        if kind != "start" or not isinstance(config, SimConfig):
            raise SimProcessError(f"unexpected start request: {request!r}")
        trio.run(_serve, conn, config)
        return 0
    except BaseException:
        with contextlib.suppress(OSError):  # unless the parent is gone
            conn.send(("error", traceback.format_exc()))
        return 1
    finally:
        conn.close()


async def _serve(conn: Connection, config: SimConfig) -> None:
    windows: list[WindowRecord] = []
    async with open_sim_venue(config) as sim:
        ready = SimReady(
            host=sim.host,
            polymarket_port=sim.polymarket_port,
            kalshi_port=sim.kalshi_port,
            rest_port=sim.rest_port,
            markets=tuple(MarketListing.of(m) for m in sim.markets),
            ca_pem=sim.ca_pem,
        )
        try:
            conn.send(("ready", ready))
            while True:
                request = await trio.to_thread.run_sync(conn.recv, abandon_on_cancel=True)
                if request == "stop":
                    break
        except (EOFError, OSError):
            return  # the parent died: stop serving and exit
        windows = sim.windows
    with contextlib.suppress(OSError):  # unless the parent is gone
        conn.send(("stopped", windows))  # after the venue closed its ports and files
