-- arbtree storage schema, version 1.
-- Every append-only table carries ``rid``: a per-record id assigned by the DB writer before
-- the record is written or journaled. Replays insert with ON CONFLICT DO NOTHING on it, so
-- a record that reached the database once can never be stored twice.

CREATE TABLE runs (
    run_id      uuid PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    pid         integer NOT NULL,
    host        text NOT NULL,
    version     text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE instruments (
    instrument  text PRIMARY KEY,            -- InstrumentId.key(): venue:symbol[:outcome]
    venue       text NOT NULL,
    symbol      text NOT NULL,
    outcome     text,
    title       text NOT NULL DEFAULT '',
    first_seen  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE instrument_pairs (
    pair_id     text PRIMARY KEY,
    left_instrument  text NOT NULL,
    right_instrument text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Sampled top of book, partitioned by UTC day (arbtree_ensure_tick_partitions).
CREATE TABLE ticks (
    rid         uuid NOT NULL,
    ts          timestamptz NOT NULL,        -- wall clock when recorded
    instrument  text NOT NULL,
    bid         bigint NOT NULL,
    bid_size    bigint NOT NULL,
    ask         bigint NOT NULL,
    ask_size    bigint NOT NULL,
    venue_ts_ms bigint NOT NULL,
    recv_ns     bigint NOT NULL
) PARTITION BY RANGE (ts);
CREATE UNIQUE INDEX ticks_rid_key ON ticks (rid, ts);
CREATE INDEX ticks_instrument_ts ON ticks (instrument, ts);

CREATE FUNCTION arbtree_ensure_tick_partitions(first_day date, last_day date)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    d date := first_day;
    created integer := 0;
    part text;
BEGIN
    -- serialize creators (two processes, or the writer and a replay) per database
    PERFORM pg_advisory_xact_lock(7305916451);
    WHILE d <= last_day LOOP
        part := 'ticks_' || to_char(d, 'YYYYMMDD');
        IF to_regclass(quote_ident(part)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF ticks FOR VALUES FROM (%L) TO (%L)',
                part,
                (d::timestamp AT TIME ZONE 'UTC'),
                ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END;
$$;

CREATE TABLE opportunities (
    rid             uuid PRIMARY KEY,
    ts              timestamptz NOT NULL,
    opportunity_id  text NOT NULL,
    strategy        text NOT NULL,
    legs            jsonb NOT NULL,
    expected_edge   bigint NOT NULL,
    fees            bigint NOT NULL,
    venue_ts_ms     bigint NOT NULL,
    recv_ns         bigint NOT NULL,
    detect_ns       bigint NOT NULL,
    decided_ns      bigint NOT NULL,
    decision        text NOT NULL,
    reject_reason   text NOT NULL
);
CREATE INDEX opportunities_ts ON opportunities (ts);
CREATE INDEX opportunities_opportunity_id ON opportunities (opportunity_id);

-- Latest state per order; the full history is in order_events.
CREATE TABLE orders (
    client_order_id text PRIMARY KEY,
    venue_order_id  text NOT NULL,
    opportunity_id  text NOT NULL,
    instrument      text NOT NULL,
    side            text NOT NULL,
    limit_price     bigint NOT NULL,
    size            bigint NOT NULL,
    filled_size     bigint NOT NULL,
    state           text NOT NULL,
    reason          text NOT NULL,
    updated_ns      bigint NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX orders_opportunity_id ON orders (opportunity_id);

CREATE TABLE order_events (
    rid             uuid PRIMARY KEY,
    client_order_id text NOT NULL,
    venue_order_id  text NOT NULL,
    state           text NOT NULL,
    filled_size     bigint NOT NULL,
    reason          text NOT NULL,
    updated_ns      bigint NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX order_events_client_order_id ON order_events (client_order_id, at);

CREATE TABLE fills (
    venue           text NOT NULL,
    fill_id         text NOT NULL,
    rid             uuid NOT NULL,
    venue_order_id  text NOT NULL,
    client_order_id text NOT NULL,
    instrument      text NOT NULL,
    side            text NOT NULL,
    price           bigint NOT NULL,
    size            bigint NOT NULL,
    fee             bigint NOT NULL,
    fee_rate_bps    integer NOT NULL,
    liquidity       text NOT NULL,
    status          text NOT NULL,
    venue_ts_ms     bigint NOT NULL,
    recv_ns         bigint NOT NULL,
    at              timestamptz NOT NULL,
    PRIMARY KEY (venue, fill_id)
);
CREATE INDEX fills_client_order_id ON fills (client_order_id);

CREATE TABLE fund_checkpoints (
    rid         uuid PRIMARY KEY,
    taken_ns    bigint NOT NULL,
    at          timestamptz NOT NULL,
    balances    jsonb NOT NULL,
    open_orders text[] NOT NULL
);
CREATE INDEX fund_checkpoints_at ON fund_checkpoints (at);

CREATE TABLE positions (
    checkpoint_rid uuid NOT NULL,
    instrument     text NOT NULL,
    size           bigint NOT NULL,
    cost           bigint NOT NULL,
    realized_pnl   bigint NOT NULL,
    updated_ns     bigint NOT NULL,
    at             timestamptz NOT NULL,
    PRIMARY KEY (checkpoint_rid, instrument)
);

CREATE TABLE supervision_events (
    rid     uuid PRIMARY KEY,
    at      timestamptz NOT NULL,
    kind    text NOT NULL,
    path    text NOT NULL,
    detail  text NOT NULL
);
CREATE INDEX supervision_events_at ON supervision_events (at);

-- The simulator's ground truth: injected arbitrage windows.
CREATE TABLE sim_windows (
    window_id     text PRIMARY KEY,
    instruments   text[] NOT NULL,
    start_at      timestamptz NOT NULL,
    end_at        timestamptz,
    expected_edge bigint NOT NULL DEFAULT 0,
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- Rows the database refused for a permanent reason; kept with the reason, never dropped.
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    rid         uuid,
    reason      text NOT NULL,
    payload     jsonb NOT NULL
);
