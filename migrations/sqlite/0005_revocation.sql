-- Revocation (RFC 5280): the invalidity date a revocation may name, and the CRLs issued per CA
-- (root or a department code), numbered; the newest one is served until it goes stale.
ALTER TABLE certificates ADD COLUMN invalidity_date INTEGER;
CREATE TABLE crls (
    ca            TEXT NOT NULL,
    number        INTEGER NOT NULL,
    der           BLOB NOT NULL,
    this_update   INTEGER NOT NULL,
    next_update   INTEGER NOT NULL,
    revoked_count INTEGER NOT NULL,
    PRIMARY KEY (ca, number)
);
