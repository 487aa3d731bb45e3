-- Schema 1: customer accounts and their monthly meter readings.
CREATE TABLE accounts (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    address     text NOT NULL CHECK (length(address) BETWEEN 1 AND 500),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE meter_readings (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    period      char(7) NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    kwh         numeric(12, 3) NOT NULL CHECK (kwh >= 0),
    read_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, period)
);
