"""What a run remembers of each opportunity it emitted, to score it against the sim's
windows (``arbtree.summary``) once the run ends."""

from __future__ import annotations

import msgspec

from protocols.messages import OpportunityRecord


class Detection(msgspec.Struct, frozen=True):
    """What scoring needs of an emitted opportunity."""

    instruments: frozenset[str]
    venue_ts_ms: int
    opportunity_id: str = ""
    reject_reason: str = ""  # "" when accepted
    size: int = 0  # detected size per leg


def detection_of(record: OpportunityRecord) -> Detection:
    """The fund manager's decision on an opportunity, as scoring reads it."""
    opp = record.opportunity
    return Detection(
        frozenset(leg.instrument.symbol for leg in opp.legs),
        opp.venue_ts_ms,
        opp.opportunity_id,
        record.reject_reason.split(":", 1)[0],  # the reason, not its detail
        opp.legs[0].size if opp.legs else 0,
    )
