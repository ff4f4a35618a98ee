-- Sign-in throttling counts failed sign-ins only, per account and client
-- address together, per account and per client address, and lets a known
-- client (one that signed in to the account lately) past the last two, so
-- that guessing cannot lock the owner out. Everything is stored hashed.

-- +goose Up
-- The account a counter is about (the hash of its email), for counters
-- that have one, so that a password reset can clear them all.
ALTER TABLE auth_throttle ADD COLUMN account text;

CREATE INDEX auth_throttle_account ON auth_throttle (account) WHERE account IS NOT NULL;

-- Client addresses that signed in to an account, each pair by its hash.
CREATE TABLE auth_known_clients (
    account   text        NOT NULL,
    client    text        NOT NULL,
    last_seen timestamptz NOT NULL,
    PRIMARY KEY (account, client)
);

CREATE INDEX auth_known_clients_last_seen ON auth_known_clients (last_seen);

-- +goose Down
DROP TABLE auth_known_clients;
DROP INDEX auth_throttle_account;
ALTER TABLE auth_throttle DROP COLUMN account;
