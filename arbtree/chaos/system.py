"""The system under test for one chaos run, as a user runs it: three kinds of process.

* PostgreSQL (``arbtree.chaos.database``): the harness's embedded server or ``--db``;
  each run gets a fresh schema.
* The simulated venue: ``arbtree sim --control-port 0`` in its own process, which outlives
  every bot process of the run (its orders, fills and balances are the venue's truth).
* The bot: ``arbtree run --sim-endpoint`` in paper mode, started again on the same run
  directory after a SIGKILL or a SIGTERM.

Every connection from the bot goes through a :class:`~arbtree.chaos.proxy.Proxy`: one per
venue websocket port, one for the venues' REST port, one for PostgreSQL.
"""

from __future__ import annotations

import calendar
import logging
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import msgspec
import trio

from arbtree.chaos.database import Postgres, run_sql
from arbtree.chaos.proxy import Proxy
from arbtree.sim_endpoint import SimEndpointFile, read_endpoint_file, write_endpoint_file

log = logging.getLogger("arbtree.chaos")

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent.parent / "config" / "default.toml"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 45.0


class SystemUnderTestError(RuntimeError):
    """A process of the system under test did not start or stop as it must."""


# -- the bot's configuration ----------------------------------------------------------------

# Over the built-in paper setup: a loss limit that does not halt a hedged run on fees,
# and frequent windows, so every run trades.
CONFIG_OVERRIDES = {'daily_loss_limit = "50"': 'daily_loss_limit = "100000"'}


def chaos_config_text() -> str:
    text = DEFAULT_CONFIG.read_text()
    for old, new in CONFIG_OVERRIDES.items():
        if old not in text:
            raise SystemUnderTestError(
                f"config/default.toml no longer has {old!r}: update the harness"
            )
        text = text.replace(old, new)
    return text


# -- processes ------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.pop("ARBTREE_LIVE", None)
    env.pop("ARBTREE_DB_DSN", None)
    return env


async def spawn(args: list[str], log_path: Path) -> trio.Process:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:  # noqa: ASYNC230 - opening a log file once
        return await trio.lowlevel.open_process(
            [sys.executable, "-m", "arbtree", *args],
            stdout=out,
            stderr=out,
            env=child_env(),
            start_new_session=True,  # a Ctrl-C on the harness is the harness's to handle
        )


async def wait_exit(process: trio.Process, timeout_s: float) -> int | None:
    with trio.move_on_after(timeout_s):
        return await process.wait()
    return None


async def stop_process(process: trio.Process, timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM, then SIGKILL if it does not exit in time; its exit code."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        if await wait_exit(process, timeout_s) is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode


# -- one run --------------------------------------------------------------------------------

_STATE_LINE = re.compile(
    r"^(\S+Z) .*arbtree\.trading\.control: trading state \w+ -> (\w+) by (\S+?):? (.*)$",
    re.MULTILINE,
)


def state_changes(log_text: str) -> list[tuple[float, str, str, str]]:
    """(wall epoch s, new state, by whom, why) for every trading-state transition in a
    bot log."""
    out = []
    for stamp, to, by, why in _STATE_LINE.findall(log_text):
        at = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
        out.append((at + float("0" + stamp[19:-1]), to, by, why.strip()))
    return out


@attrs.define(eq=False)
class RunSystem:
    """The live processes and proxies of one run (made by :func:`open_system`)."""

    run_dir: Path
    postgres: Postgres
    schema: str
    db_dsn: str  # through the proxy
    sim_process: trio.Process
    sim_info: SimEndpointFile
    proxies: dict[str, Proxy]  # "polymarket_ws", "kalshi_ws", "rest", "db"
    sim_token: str
    bot_args: list[str]
    bot: trio.Process | None = None
    incarnation: int = 0
    exit_codes: list[int] = attrs.Factory(list)
    killed: bool = False
    http: httpx.AsyncClient = attrs.Factory(
        lambda: httpx.AsyncClient(timeout=15.0, trust_env=False)
    )
    mailbox_peaks: dict[str, tuple[int, int]] = attrs.Factory(dict)  # name -> (peak, capacity)
    rss_kb: list[int] = attrs.Factory(list)
    held_streams: list[trio.SocketStream] = attrs.Factory(list)  # control_slow_streams

    async def sample_forever(self, interval_s: float = 1.0) -> None:
        """Every ``interval_s``: the bot's mailbox peaks (from /tree) and its RSS."""
        while True:
            await trio.sleep(interval_s)
            bot = self.bot
            if bot is None or bot.returncode is not None:
                continue
            rss = rss_kb(bot.pid)
            if rss is not None:
                self.rss_kb.append(rss)
            try:
                tree = await self.tree()
            except (httpx.HTTPError, OSError, ValueError):
                continue
            for node in tree.get("nodes", []):
                for mb in node.get("mailboxes", []) or []:
                    peak = self.mailbox_peaks.get(mb["name"], (0, 0))[0]
                    self.mailbox_peaks[mb["name"]] = (max(peak, mb["peak"]), mb["capacity"])

    @property
    def bot_run_dir(self) -> Path:
        return self.run_dir / "bot"

    def summary_path(self, incarnation: int) -> Path:
        return self.run_dir / f"summary-{incarnation}.json"

    def bot_log(self) -> Path:
        return self.run_dir / "bot.log"

    async def start_bot(self) -> None:
        """Start a bot process on the run directory (again, after a kill or a stop)."""
        self.incarnation += 1
        args = [*self.bot_args, "--summary", str(self.summary_path(self.incarnation))]
        self.bot = await spawn(args, self.bot_log())

    async def wait_bot_ready(self, timeout_s: float = START_TIMEOUT_S) -> bool:
        """Until the bot's control endpoint answers ``/health/ready`` 200 (or it exits)."""
        with trio.move_on_after(timeout_s):
            while True:
                if self.bot is None or self.bot.returncode is not None:
                    return False
                url = self.control_url()
                if url:
                    try:
                        r = await self.http.get(f"{url}/health/ready")
                        if r.status_code == 200:
                            return True
                    except httpx.HTTPError:
                        pass
                await trio.sleep(0.25)
        return False

    def control_url(self) -> str:
        try:
            info = msgspec.json.decode((self.bot_run_dir / "control.json").read_bytes())
        except (OSError, msgspec.DecodeError):
            return ""
        return str(info.get("url", ""))

    def control_token(self) -> str:
        info = msgspec.json.decode((self.bot_run_dir / "control.json").read_bytes())
        return Path(info["token_file"]).read_text().strip()

    async def bot_action(self, action: str, body: dict[str, Any]) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.control_token()}"}
        return await self.http.post(
            f"{self.control_url()}/actions/{action}", json=body, headers=headers
        )

    async def tree(self) -> dict[str, Any]:
        r = await self.http.get(f"{self.control_url()}/tree")
        r.raise_for_status()
        tree: dict[str, Any] = r.json()
        return tree

    async def sim_action(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.sim_token}"}
        url = f"{self.sim_info.control_url}{path}"
        if body is None and path == "/state":
            return await self.http.get(url, headers=headers)
        return await self.http.post(url, json=body or {}, headers=headers)

    async def kill_bot(self) -> None:
        """SIGKILL the bot: no shutdown phases, no summary."""
        if self.bot is not None and self.bot.returncode is None:
            self.bot.kill()
            self.exit_codes.append(await self.bot.wait())
            self.killed = True

    async def stop_bot(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM the bot and wait for its phased shutdown; its exit code."""
        assert self.bot is not None
        code = await stop_process(self.bot, timeout_s)
        self.exit_codes.append(code)
        return code

    def heal_network(self) -> None:
        for proxy in self.proxies.values():
            proxy.reset()


async def _start_sim(run_dir: Path, seed: int, sim_args: list[str]) -> tuple[trio.Process, Path]:
    endpoint = run_dir / "sim.json"
    args = ["sim", "--seed", str(seed), "--control-port", "0", "--endpoint-file", str(endpoint)]
    process = await spawn([*args, *sim_args], run_dir / "sim.log")
    with trio.move_on_after(START_TIMEOUT_S):
        while not endpoint.exists():
            if process.returncode is not None:
                break
            await trio.sleep(0.05)
    if not endpoint.exists():
        await stop_process(process, 5)
        raise SystemUnderTestError(f"the sim did not start: see {run_dir / 'sim.log'}")
    return process, endpoint


def rss_kb(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB (Linux /proc), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


def _read_token(path: str) -> str:
    return Path(path).read_text().strip()


@asynccontextmanager
async def open_system(
    run_dir: Path, postgres: Postgres, *, seed: int, sim_args: list[str], bot_extra: list[str]
) -> AsyncIterator[RunSystem]:
    """Start the database schema, the sim and the proxies (not the bot) for one run."""
    _make_dir(run_dir)
    schema = f"chaos_{run_dir.name.replace('-', '_')}_{os.getpid()}"
    await trio.to_thread.run_sync(run_sql, postgres.uri, f'CREATE SCHEMA "{schema}"')
    sim_process, endpoint = await _start_sim(run_dir, seed, sim_args)
    try:
        info = read_endpoint_file(endpoint)
        token = _read_token(info.token_file)
        async with trio.open_nursery() as nursery:
            proxies = {
                "polymarket_ws": Proxy(
                    "polymarket_ws", (info.host, info.polymarket_port), seed=seed
                ),
                "kalshi_ws": Proxy("kalshi_ws", (info.host, info.kalshi_port), seed=seed + 1),
                "rest": Proxy("rest", (info.host, info.rest_port), seed=seed + 2),
                "db": Proxy("db", postgres.upstream, seed=seed + 3),
            }
            for proxy in proxies.values():
                await nursery.start(proxy.serve)
            proxied = msgspec.structs.replace(
                info,
                polymarket_port=proxies["polymarket_ws"].port,
                kalshi_port=proxies["kalshi_ws"].port,
                rest_port=proxies["rest"].port,
            )
            write_endpoint_file(run_dir / "sim-proxied.json", proxied)
            config = run_dir / "chaos.toml"
            config.write_text(chaos_config_text())
            dsn = postgres.dsn_via(proxies["db"].port, schema)
            bot_args = [
                "run",
                "--config",
                str(config),
                "--sim-endpoint",
                str(run_dir / "sim-proxied.json"),
                "--db",
                dsn,
                "--run-dir",
                str(run_dir / "bot"),
                "--control-port",
                "0",
                "--no-panel",
                "--seed",
                str(seed),
                *bot_extra,
            ]
            system = RunSystem(
                run_dir, postgres, schema, dsn, sim_process, info, proxies, token, bot_args
            )
            try:
                yield system
            finally:
                with trio.CancelScope(shield=True):
                    if system.bot is not None and system.bot.returncode is None:
                        await stop_process(system.bot, 10)
                    await system.http.aclose()
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await stop_process(sim_process, 10)
            postgres.signal_all(signal.SIGCONT)  # never leave the database paused
            try:
                await trio.to_thread.run_sync(
                    run_sql, postgres.uri, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'
                )
            except Exception as exc:  # the report matters more than the cleanup
                log.warning("could not drop schema %s: %s", schema, exc)
