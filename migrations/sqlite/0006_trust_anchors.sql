-- External roots an admin registers as trusted for verifying other systems' signatures.
CREATE TABLE trust_anchors (
    id         TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    der        BLOB NOT NULL,
    sha256     TEXT NOT NULL UNIQUE,
    subject    TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
