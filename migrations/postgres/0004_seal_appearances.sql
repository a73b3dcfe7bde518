-- A department's own seal image (PNG), used instead of the generated appearance.
CREATE TABLE seal_appearances (
    seal_id    TEXT PRIMARY KEY REFERENCES seals(id),
    png        BYTEA NOT NULL,
    sha256     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
