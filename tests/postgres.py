"""Postgres for tests: a DSN pointed at one schema."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit


def dsn_with_schema(dsn: str, schema: str) -> str:
    """``dsn`` with ``options=-csearch_path=<schema>`` (libpq and asyncpg both honour it)."""
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return parts._replace(query=urlencode(query, quote_via=quote)).geturl()
