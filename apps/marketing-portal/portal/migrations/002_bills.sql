-- Schema 2: every computed bill is kept (additive only, so release 1.0.0 keeps working
-- beside 1.1.0 during a rolling deploy).
CREATE TABLE bills (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    period      char(7) NOT NULL,
    kwh         numeric(12, 3) NOT NULL,
    total       numeric(12, 2) NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bills_account_period ON bills (account_id, period);
