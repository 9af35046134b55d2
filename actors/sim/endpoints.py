"""Where the simulated venue listens: its URLs from a host and three ports.

One place for the URL layout, shared by the in-process venue and the handle of a venue
running in a child process (``arbtree.sim_process``).
"""

from __future__ import annotations


class SimEndpoints:
    """URL properties over ``host`` and the Polymarket, Kalshi and REST ports; ``wss://``
    and ``https://`` when the venue serves TLS (``ca_pem``: the CA its certificate is
    signed by, for the clients to trust)."""

    host: str
    polymarket_port: int
    kalshi_port: int
    rest_port: int
    ca_pem: bytes | None = None

    @property
    def _ws(self) -> str:
        return "wss" if self.ca_pem is not None else "ws"

    @property
    def polymarket_ws_url(self) -> str:
        return f"{self._ws}://{self.host}:{self.polymarket_port}/ws/market"

    @property
    def polymarket_user_ws_url(self) -> str:
        return f"{self._ws}://{self.host}:{self.polymarket_port}/ws/user"

    @property
    def kalshi_ws_url(self) -> str:
        return f"{self._ws}://{self.host}:{self.kalshi_port}/trade-api/ws/v2"

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.ca_pem is not None else 'http'}://{self.host}:{self.rest_port}"

    @property
    def polymarket_rest_url(self) -> str:
        return self.rest_url

    @property
    def kalshi_rest_url(self) -> str:
        return f"{self.rest_url}/trade-api/v2"
