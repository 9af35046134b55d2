"""Client TLS contexts: the system's trust store, plus one extra CA when configured (the
simulated venue's own, in paper mode)."""

from __future__ import annotations

import ssl


def client_ssl_context(ca_file: str = "") -> ssl.SSLContext:
    """A verifying client context; ``ca_file`` (PEM) is trusted in addition to the system's
    store. A missing or unreadable file raises ``OSError``/``ssl.SSLError`` naming it."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context
