-- External roots an admin registers as trusted for verifying other systems' signatures.
CREATE TABLE trust_anchors (
    id         TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    der        BYTEA NOT NULL,
    sha256     TEXT NOT NULL UNIQUE,
    subject    TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after  BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
