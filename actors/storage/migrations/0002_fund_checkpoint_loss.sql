-- The fund checkpoint carries fees paid and the daily-loss counters of one UTC day, so a
-- fund-manager restart within that day resumes the daily loss limit instead of resetting
-- it. Defaults make rows written before this migration read as "no fees, no day".
ALTER TABLE fund_checkpoints
    ADD COLUMN fees_paid    bigint  NOT NULL DEFAULT 0,
    ADD COLUMN day_fees     bigint  NOT NULL DEFAULT 0,
    ADD COLUMN day_realized bigint  NOT NULL DEFAULT 0,
    ADD COLUMN loss_day     integer NOT NULL DEFAULT -1;
