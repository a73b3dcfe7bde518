-- trustd schema, PostgreSQL. Portable column types: BIGINT (i64 unix seconds, flags), TEXT, BYTEA.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Private keys, sealed with AES-256-GCM under the master key (bound to id).
CREATE TABLE keys (
    id                 TEXT PRIMARY KEY,
    algorithm          TEXT NOT NULL,
    public_key         BYTEA NOT NULL,
    sealed_private_key BYTEA NOT NULL,
    created_at         BIGINT NOT NULL
);

CREATE TABLE certificates (
    serial            TEXT PRIMARY KEY,
    issuer            TEXT NOT NULL,
    kind              TEXT NOT NULL,
    subject           TEXT NOT NULL,
    department_code   TEXT,
    key_id            TEXT NOT NULL REFERENCES keys(id),
    der               BYTEA NOT NULL,
    not_before        BIGINT NOT NULL,
    not_after         BIGINT NOT NULL,
    revoked_at        BIGINT,
    revocation_reason TEXT,
    created_at        BIGINT NOT NULL
);
CREATE INDEX certificates_issuer ON certificates (issuer, revoked_at);

CREATE TABLE departments (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    ca_serial  TEXT NOT NULL REFERENCES certificates(serial),
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    token_hash      BYTEA NOT NULL,
    role            TEXT NOT NULL,
    department_code TEXT REFERENCES departments(code),
    label           TEXT,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);

-- The issuance log. log_state.size is the next index; it is bumped in the writing transaction,
-- so indices are dense and final when the transaction commits.
CREATE TABLE log_state (
    id              BIGINT PRIMARY KEY CHECK (id = 1),
    size            BIGINT NOT NULL,
    integrated_size BIGINT NOT NULL
);
INSERT INTO log_state (id, size, integrated_size) VALUES (1, 0, 0);

CREATE TABLE events (
    idx             BIGINT PRIMARY KEY,
    entry           BYTEA NOT NULL,
    leaf_hash       BYTEA NOT NULL,
    event_type      TEXT NOT NULL,
    department_code TEXT,
    subject         TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX events_department ON events (department_code, idx);
CREATE INDEX events_type ON events (event_type, idx);
CREATE INDEX events_subject ON events (subject, idx);
CREATE INDEX events_time ON events (created_at, idx);

-- Complete subtree hashes (RFC 9162 §2.1), level >= 1; level 0 is events.leaf_hash.
CREATE TABLE log_nodes (
    level BIGINT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE log_checkpoints (
    size       BIGINT PRIMARY KEY,
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
