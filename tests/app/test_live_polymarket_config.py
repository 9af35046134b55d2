"""Live Polymarket settings in the run configuration: neg-risk markets reach the executor's
signer, and a signature type it cannot sign is a config error naming the key."""

from __future__ import annotations

import pytest

from arbtree.config import AppConfig, with_neg_risk_tokens
from protocols.config.load import ConfigError, decode_config

MARKETS = """
[[market.detector.polymarket]]
name = "election"
yes_token = "111"
no_token = "222"
neg_risk = true

[[market.detector.polymarket]]
name = "weather"
yes_token = "333"
no_token = "444"

[trading.executor.polymarket]
signature_type = "safe"
neg_risk_tokens = ["999"]
"""


def test_neg_risk_markets_reach_the_executor_with_what_was_configured_there() -> None:
    cfg = decode_config(MARKETS, AppConfig)
    assert cfg.trading.executor.polymarket.signature_type == "safe"
    trading = with_neg_risk_tokens(cfg.trading, cfg.market)
    assert trading.executor.polymarket.neg_risk_tokens == ["111", "222", "999"]
    assert with_neg_risk_tokens(trading, cfg.market) is trading  # nothing left to add
    plain = decode_config("", AppConfig)
    untouched = with_neg_risk_tokens(plain.trading, plain.market)
    assert untouched.executor.polymarket.neg_risk_tokens == []


def test_an_unsupported_signature_type_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"trading\.executor\.polymarket\.signature_type"):
        decode_config('[trading.executor.polymarket]\nsignature_type = "1271"\n', AppConfig)
