-- fills.fee is the fee the books charged for the fill (actors/trading/fees.py FeeBook), not
-- the venue's raw report: a Polymarket REST-derived fill reports none (-1), which made a
-- SQL sum of fees miss Polymarket. fee_shares is the part of fee a Polymarket buy paid in
-- shares; fee_estimated marks a fee the venue did not report (computed from a rate).
ALTER TABLE fills
    ADD COLUMN fee_shares    bigint  NOT NULL DEFAULT 0,
    ADD COLUMN fee_estimated boolean NOT NULL DEFAULT false;
