"""Capture scored on what was traded: available within the limits vs locked in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from arbtree.capture import (
    ExposureLimits,
    OpportunityResult,
    WindowIndex,
    WindowTruth,
    available_within_limits,
    results_for,
    score_capture,
    why_low,
)

ONE = 1_000_000
WIDE = ExposureLimits(per_instrument=10**12, per_pair=10**12, per_venue=10**12, total=10**12)
P_YES = "polymarket:y1:yes"
P_NO = "polymarket:n1:no"
K_NO = "kalshi:KX1:no"


def window(wid: str, a: str, b: str, *chunks: tuple[int, int, int, int]) -> WindowTruth:
    """Offers of one pair: (size, price a, price b, edge) per chunk."""
    return WindowTruth(id=wid, offers=tuple((q, a, pa, b, pb, e) for q, pa, pb, e in chunks))


def result(wid: str, locked: int, **over: object) -> OpportunityResult:
    base: dict[str, object] = {
        "opportunity_id": f"o-{wid}-{locked}",
        "window_id": wid,
        "reject_reason": "",
        "size": 100 * ONE,
        "approved_size": 100 * ONE,
        "locked": locked,
        "unwinds": 0,
        "failed_legs": 0,
    }
    base.update(over)
    return OpportunityResult(**base)  # type: ignore[arg-type]


def test_without_binding_limits_every_profitable_chunk_is_available() -> None:
    w = window(
        "w1",
        P_YES,
        K_NO,
        (100 * ONE, 400_000, 550_000, 3 * ONE),
        (50 * ONE, 410_000, 560_000, ONE),
    )
    assert available_within_limits([w], WIDE) == {"w1": 4 * ONE}


def test_pairs_share_a_leg_and_the_best_edge_per_share_goes_first() -> None:
    """Two pairs of one window share the cheap NO (the pair it implies, other YES). In
    hindsight the better one per share goes first: the implied pair (0.10 a share) takes
    its 10, then the window's own pair (0.03) gets what the per-pair limit leaves with
    P_NO already holding 5.5."""
    limits = ExposureLimits(
        per_instrument=10**12, per_pair=57 * ONE, per_venue=10**12, total=10**12
    )
    k_yes = K_NO.replace(":no", ":yes")
    w = WindowTruth(
        id="w",
        offers=(
            (100 * ONE, P_YES, 400_000, P_NO, 550_000, 3 * ONE),
            (10 * ONE, k_yes, 400_000, P_NO, 550_000, ONE),
        ),
    )
    pairs = (57 * ONE - 5_500_000) * ONE // 950_000  # 54.210526 pairs
    assert available_within_limits([w], limits) == {"w": ONE + 3 * ONE * pairs // (100 * ONE)}


def test_exposure_limits_cut_a_chunk_and_carry_to_later_windows() -> None:
    """Per pair 57: the first chunk (100 pairs at 0.95 = 95) is cut to 60 pairs (57.0),
    edge pro rata; a later window on the same legs finds the pair full."""
    limits = ExposureLimits(
        per_instrument=10**12, per_pair=57 * ONE, per_venue=10**12, total=10**12
    )
    first = window("w1", P_YES, K_NO, (100 * ONE, 400_000, 550_000, 3 * ONE))
    second = window("w2", P_YES, K_NO, (100 * ONE, 400_000, 550_000, 3 * ONE))
    other = window("w3", P_YES, P_NO, (10 * ONE, 300_000, 600_000, ONE))
    got = available_within_limits([first, second, other], limits)
    assert got["w1"] == 3 * ONE * 60 // 100
    assert got["w2"] == 0
    # P_YES holds 24 (60 x 0.40): with P_NO the pair has 33 left, 10 x 0.9 = 9 fits.
    assert got["w3"] == ONE


def test_per_venue_and_total_limits_bind_too() -> None:
    venue = ExposureLimits(per_instrument=10**12, per_pair=10**12, per_venue=20 * ONE, total=10**12)
    w = window("w", P_YES, P_NO, (100 * ONE, 300_000, 600_000, 5 * ONE))
    # one venue for both legs: 20 / 0.9 = 22.222222 pairs
    assert available_within_limits([w], venue)["w"] == 5 * ONE * 22_222_222 // (100 * ONE)
    total = ExposureLimits(per_instrument=10**12, per_pair=10**12, per_venue=10**12, total=9 * ONE)
    assert available_within_limits([w], total)["w"] == ONE // 2


def test_why_a_window_locked_less_names_every_cause() -> None:
    assert why_low([], 0) == "limits left nothing"
    assert why_low([], 5) == "not detected"
    items = [
        result("w", 0, reject_reason="leg_in_flight"),
        result("w", ONE, unwinds=1, failed_legs=1),
        result("w", ONE, approved_size=40 * ONE),
    ]
    assert why_low(items, 5 * ONE) == (
        "rejected leg_in_flight x1, 1 leg(s) failed, 1 unwind(s), 1 clipped by a size limit, "
        "2 trade(s)"
    )


def test_score_totals_ratio_and_the_lowest_windows_first() -> None:
    windows = [
        window("w1", P_YES, K_NO, (10 * ONE, 400_000, 550_000, 2 * ONE)),
        window("w2", P_YES, P_NO, (10 * ONE, 300_000, 600_000, ONE)),
        window("w3", K_NO, P_NO, (10 * ONE, 300_000, 600_000, ONE)),
    ]
    results = [result("w1", 2 * ONE), result("w2", ONE // 4)]
    score = score_capture(windows, results, WIDE, lowest=2)
    assert score.available_edge_usd == "4.000000"
    assert score.locked_edge_usd == "2.250000"
    assert score.ratio == 2.25 / 4
    assert [c.id for c in score.lowest] == ["w3", "w2"]
    assert score.lowest[0].why == "not detected"
    assert score.lowest[1].ratio == 0.25
    assert score.lowest[1].why == "1 trade(s)"


def test_results_are_attributed_to_the_window_open_on_their_instruments() -> None:
    spans = [
        ("w1", frozenset({"y1", "KX1"}), 1_000, 2_000),
        ("w2", frozenset({"y2"}), 1_000, 9_000),
    ]
    detections = [
        ("o1", frozenset({"y1", "n1"}), 1_500, "", 100 * ONE),
        ("o2", frozenset({"y1", "n1"}), 5_000, "", 100 * ONE),  # after w1: not scored
        ("o3", frozenset({"y2", "n2"}), 5_000, "exposure_pair", 100 * ONE),
    ]
    traded = {"o1": {"locked": 7, "hedged": 9, "unwinds": 0, "failed_legs": 1, "size": 5}}
    got = results_for(spans, detections, traded, slack_ms=100)
    assert [(r.opportunity_id, r.window_id) for r in got] == [("o1", "w1"), ("o3", "w2")]
    assert (got[0].locked, got[0].failed_legs, got[0].approved_size) == (7, 1, 5)
    assert (got[1].locked, got[1].reject_reason) == (0, "exposure_pair")


def test_a_detection_goes_to_the_window_it_falls_in_not_to_the_slack_of_the_one_before() -> None:
    """Two windows of one market back to back: a detection just after the second opened
    lies within the first's slack, but it was made in (and traded on) the second."""
    spans = [
        ("w1", frozenset({"y1", "n1"}), 1_000, 2_000),
        ("w2", frozenset({"y1", "n1"}), 2_050, 4_000),
    ]
    detections = [
        ("o1", frozenset({"y1", "n1"}), 1_990, "", 100 * ONE),
        ("o2", frozenset({"y1", "n1"}), 2_060, "", 100 * ONE),  # in w2, in w1's slack
        ("o3", frozenset({"y1", "n1"}), 2_030, "", 100 * ONE),  # in neither: nearest, w2
        ("o4", frozenset({"y1", "n1"}), 2_010, "", 100 * ONE),  # in neither: nearest, w1
    ]
    got = results_for(spans, detections, {}, slack_ms=100)
    assert [(r.opportunity_id, r.window_id) for r in got] == [
        ("o1", "w1"),
        ("o2", "w2"),
        ("o3", "w2"),
        ("o4", "w1"),
    ]


@settings(max_examples=300, deadline=None)
@given(
    spans=st.lists(
        st.tuples(
            st.frozensets(st.sampled_from("abcd"), min_size=1, max_size=2),
            st.integers(0, 5_000),
            st.integers(0, 3_000),
        ),
        max_size=12,
    ),
    detections=st.lists(
        st.tuples(st.frozensets(st.sampled_from("abcde"), max_size=2), st.integers(-500, 9_000)),
        max_size=12,
    ),
    slack=st.integers(0, 300),
)
def test_the_window_index_finds_what_comparing_with_every_window_finds(
    spans: list[tuple[frozenset[str], int, int]],
    detections: list[tuple[frozenset[str], int]],
    slack: int,
) -> None:
    ordered = sorted(spans, key=lambda s: s[1])
    windows = [
        (f"w{i}", ins, start, start + length) for i, (ins, start, length) in enumerate(ordered)
    ]
    index = WindowIndex(windows, slack)
    for instruments, ts in detections:
        reach = [
            (max(start - ts, ts - end, 0), order, wid)
            for order, (wid, ws, start, end) in enumerate(windows)
            if ws & instruments and max(start - ts, ts - end, 0) <= slack
        ]
        assert index.find(instruments, ts) == (min(reach)[2] if reach else None)
