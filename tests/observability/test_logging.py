"""Structured logging: JSON and plain lines, run id and actor path, redaction, sampling."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.observability import logging as log_module
from actors.observability.logging import (
    TICK_LOGGER,
    RedactionFilter,
    SampledLogger,
    close_logging,
    configure_logging,
    redact,
    register_secret,
)
from protocols.config.observability import LoggingConfig


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    close_logging()
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    logging.getLogger(TICK_LOGGER).setLevel(logging.NOTSET)


@pytest.mark.usefixtures("restore_root")
def test_json_lines_carry_run_id_actor_path_and_extras() -> None:
    out = io.StringIO()
    sink = configure_logging(LoggingConfig(format="json", level="INFO"), run_id="run-7", stream=out)
    actor = logging.LoggerAdapter(logging.getLogger("arbtree.feeds.kalshi"), {"path": "x"})
    actor.logger.info("connected", extra={"actor_path": "arbtree/feeds/kalshi", "markets": 12})
    # the supervision runtime's adapter passes the path as ``path``
    adapter = logging.LoggerAdapter(logging.getLogger("arbtree.market"), {"path": "arbtree/market"})
    adapter.warning("slow consumer")
    try:
        raise ValueError("bad frame")
    except ValueError:
        logging.getLogger("arbtree.decode").exception("decode failed")
    sink.flush()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["run_id"] == "run-7"
    assert lines[0]["actor"] == "arbtree/feeds/kalshi"
    assert lines[0]["msg"] == "connected"
    assert lines[0]["extra"] == {"markets": 12}
    assert lines[0]["level"] == "INFO"
    assert lines[0]["ts"].endswith("Z")
    assert lines[1]["actor"] == "arbtree/market"
    assert "ValueError: bad frame" in lines[2]["exc"]


@pytest.mark.usefixtures("restore_root")
def test_plain_lines_and_tick_loggers_only_at_debug_when_asked() -> None:
    out = io.StringIO()
    sink = configure_logging(LoggingConfig(level="DEBUG"), run_id="r1", stream=out)
    logging.getLogger(f"{TICK_LOGGER}.kalshi").debug("tick %d", 1)
    logging.getLogger("arbtree.executor").debug("debug is on elsewhere")
    sink.flush()
    text = out.getvalue()
    assert "tick 1" not in text
    assert "[r1] arbtree.executor: debug is on elsewhere" in text

    out = io.StringIO()
    sink = configure_logging(LoggingConfig(level="INFO", tick_debug=True), run_id="r1", stream=out)
    logging.getLogger(f"{TICK_LOGGER}.kalshi").debug("tick %d", 2)
    sink.flush()
    assert "tick 2" in out.getvalue()


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("api_key=AKIA1234567890SECRET", "AKIA1234567890SECRET"),
        ('{"apiKey": "abcdef123456", "x": 1}', "abcdef123456"),
        ("Authorization: Bearer eyJhbGciOi.J9.sig-part", "eyJhbGciOi.J9.sig-part"),
        ("headers={'authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz"),
        (
            "KALSHI_PRIVATE_KEY=-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n"
            "-----END RSA PRIVATE KEY-----",
            "MIIEow",
        ),
        ("wallet 0x" + "ab" * 32 + " loaded", "ab" * 32),
        ("dsn postgresql://arb:hunter2pw@localhost/arb", "hunter2pw"),
        ("POLY_PASSPHRASE: s3cr3t-phrase", "s3cr3t-phrase"),
        ("token=zzzzzzzzzzzz&next=1", "zzzzzzzzzzzz"),
    ],
)
def test_secrets_are_masked(line: str, secret: str) -> None:
    masked = redact(line)
    assert secret not in masked
    assert "***" in masked or "REDACTED" in masked


def test_ordinary_text_is_untouched() -> None:
    line = "filled 12 contracts at 0.43 on kalshi; max_tokens 5; reconnect reason=timeout"
    assert redact(line) == line


@pytest.mark.usefixtures("restore_root")
def test_registered_secret_values_and_secret_extras_never_reach_the_log() -> None:
    out = io.StringIO()
    sink = configure_logging(LoggingConfig(format="json"), run_id="r", stream=out)
    register_secret("per-run-control-token-value")
    log = logging.getLogger("arbtree.control")
    log.warning("echo %s", "per-run-control-token-value")
    log.warning("creds", extra={"api_secret": "visible?", "venue": "kalshi"})
    sink.flush()
    text = out.getvalue()
    assert "per-run-control-token-value" not in text
    assert "visible?" not in text
    assert json.loads(text.splitlines()[1])["extra"] == {"api_secret": "***", "venue": "kalshi"}


def test_redaction_filter_for_foreign_handlers() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "key %s", ("password=abc12345",), None
    )
    assert RedactionFilter().filter(record)
    assert record.getMessage() == "key password=***"


def test_sampled_logger_logs_first_n_then_every_kth_with_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = SampledLogger(logging.getLogger("arbtree.feeds.sampled"), first=3, every=10)
    caplog.set_level(logging.ERROR, logger="arbtree.feeds.sampled")
    emitted = [log.error("decode", "bad frame %d", i) for i in range(1, 26)]
    assert [i + 1 for i, e in enumerate(emitted) if e] == [1, 2, 3, 13, 23]
    records = caplog.records
    assert [r.getMessage() for r in records] == [f"bad frame {n}" for n in (1, 2, 3, 13, 23)]
    assert [r.__dict__["suppressed"] for r in records] == [0, 0, 0, 9, 9]
    assert records[-1].__dict__["occurrences"] == 23
    assert log.counts() == {"decode": 25}
    # keys are independent
    assert log.error("other", "first of another kind")


_WORDS = st.sampled_from(
    [
        "api_key",
        "API-KEY",
        "apikey",
        "poly_api_key",
        "token",
        "tokens",
        "token_id",
        "secret",
        "password",
        "x-api-key",
        "Bearer",
        "order",
        "venue",
        "kalshi",
        "=",
        ": ",
        ":",
        '"',
        "'",
        " ",
        ",",
        "&",
        "0x",
        "abc123",
        "s3cr3t",
        "_",
        "-",
        "}",
        "\n",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_WORDS, max_size=14).map("".join))
def test_the_fast_path_redacts_exactly_like_the_key_pattern(line: str) -> None:
    """redact() skips the key pattern when no key occurs in the folded line; with the
    probe forced to match everything (the pattern on every line) the result is the same."""
    fast = redact(line)
    saved = log_module._key_probes
    log_module._key_probes = ("",)
    try:
        assert fast == redact(line)
    finally:
        log_module._key_probes = saved
