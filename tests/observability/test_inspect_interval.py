"""``arbtree inspect --interval`` out of what the control endpoint can stream is refused
in one line before the live view opens (or anything is contacted)."""

from __future__ import annotations

import pytest

from arbtree import cli


@pytest.mark.parametrize("interval", ["0.01", "0", "-1", "nan", "inf", "7200"])
def test_an_interval_the_endpoint_cannot_stream_is_one_line_exit_1(
    interval: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # nothing listens at this URL: the refusal must come before any attempt to reach it
    code = cli.main(["inspect", "--url", "http://127.0.0.1:9", "--interval", interval])
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err
    assert lines == [
        f"arbtree inspect: --interval must be from 0.1 to 3600 seconds (got {float(interval)!r})"
    ], err
    assert out == ""
