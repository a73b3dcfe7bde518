-- A department's own seal image (PNG), used instead of the generated appearance.
CREATE TABLE seal_appearances (
    seal_id    TEXT PRIMARY KEY REFERENCES seals(id),
    png        BLOB NOT NULL,
    sha256     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
