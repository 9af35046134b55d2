"""``[sim]`` in the run configuration: the step interval reaches the simulated venue."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbtree.config import AppConfig, load_app_config
from protocols.config.load import ConfigError, decode_config


def test_step_interval_reaches_the_sim_config(tmp_path: Path) -> None:
    cfg = decode_config("[sim]\nrate = 1000.0\nstep_interval_s = 0.001\n", AppConfig)
    sim = cfg.sim.to_sim_config(seed=5, run_dir=tmp_path)
    assert sim.step_interval == 0.001
    assert sim.rate == 1000.0
    default = load_app_config(None).sim.to_sim_config(seed=5, run_dir=tmp_path)
    assert default.step_interval == 0.01


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("step_interval_s = 0", "sim.step_interval_s: Expected `float` >= 0.0001"),
        ('step_interval_s = "1ms"', "sim.step_interval_s: Expected `float`"),
    ],
)
def test_a_bad_step_interval_is_a_config_error_naming_the_key(toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("`", ".")):
        decode_config(f"[sim]\n{toml}\n", AppConfig)
