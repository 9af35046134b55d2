"""The simulated venue's TLS: a certificate authority made for this run (``trustme``),
and a server certificate for the sim's loopback host signed by it.

Real venues are ``wss://`` and ``https://``; a sim serving plain text would leave the
TLS work of every frame and order out of what the tests and benchmarks see. The CA's
certificate (PEM) is what a client must trust: ``arbtree run`` writes it to the run
directory and points the feeds, the user channels and the order clients at it.
"""

from __future__ import annotations

import ssl

import attrs
import trustme


@attrs.frozen(repr=False)
class SimTls:
    """The server side (an SSL context with the sim's certificate) and the CA to trust."""

    server_context: ssl.SSLContext
    ca_pem: bytes


def make_sim_tls(host: str) -> SimTls:
    """A fresh CA and a certificate for ``host`` (and ``localhost``/``127.0.0.1``)."""
    ca = trustme.CA()
    names = dict.fromkeys((host, "localhost", "127.0.0.1"))
    cert = ca.issue_cert(*names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return SimTls(server_context=context, ca_pem=ca.cert_pem.bytes())
