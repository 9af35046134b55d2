-- What a run's trades locked in (actors/trading/outcome.py), written every status interval
-- and once more as the run stops (final). 1e-6 units, like every money column: hedged
-- pairs x $1 minus their cost and fees, the unhedged rest at cost and at the best bids
-- (NULL when a held instrument had no bid), unwinds net of fees.
CREATE TABLE trading_outcome (
    rid             uuid PRIMARY KEY,
    run_id          text        NOT NULL,
    at              timestamptz NOT NULL,
    locked_edge     bigint      NOT NULL,
    hedged          bigint      NOT NULL,
    hedged_cost     bigint      NOT NULL,
    unhedged_size   bigint      NOT NULL,
    unhedged_cost   bigint      NOT NULL,
    unhedged_mark   bigint,
    unwinds         integer     NOT NULL,
    unwind_realized bigint      NOT NULL,
    fees            bigint      NOT NULL,
    opportunities   integer     NOT NULL,
    final           boolean     NOT NULL
);
CREATE INDEX trading_outcome_run_at ON trading_outcome (run_id, at);

-- The latest figures of each run, in dollars and shares.
CREATE VIEW trading_outcome_latest AS
SELECT DISTINCT ON (run_id)
    run_id,
    at,
    final,
    locked_edge / 1e6      AS locked_edge_usd,
    hedged / 1e6           AS hedged_pairs,
    hedged_cost / 1e6      AS hedged_cost_usd,
    unhedged_size / 1e6    AS unhedged_shares,
    unhedged_cost / 1e6    AS unhedged_cost_usd,
    unhedged_mark / 1e6    AS unhedged_mark_usd,
    unwinds,
    unwind_realized / 1e6  AS unwind_realized_usd,
    fees / 1e6             AS fees_usd,
    opportunities
FROM trading_outcome
ORDER BY run_id, at DESC, final DESC;
