-- Revocation (RFC 5280): the invalidity date a revocation may name, and the CRLs issued per CA
-- (root or a department code), numbered; the newest one is served until it goes stale.
ALTER TABLE certificates ADD COLUMN invalidity_date BIGINT;
CREATE TABLE crls (
    ca            TEXT NOT NULL,
    number        BIGINT NOT NULL,
    der           BYTEA NOT NULL,
    this_update   BIGINT NOT NULL,
    next_update   BIGINT NOT NULL,
    revoked_count BIGINT NOT NULL,
    PRIMARY KEY (ca, number)
);
