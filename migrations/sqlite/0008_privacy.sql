-- Issue 13. A licence's SD-JWT (RFC 9901): the holder's copy, each personal claim a salted
-- digest with its disclosure beside it. Licences issued before have none (NULL).
ALTER TABLE licences ADD COLUMN sd_jwt TEXT;

-- Seal images wait for an admin's approval (电子印章管理办法): an operator's upload is kept
-- here until approved, and only `seal_appearances` (approved images) is used for stamping.
CREATE TABLE seal_appearance_uploads (
    seal_id     TEXT PRIMARY KEY REFERENCES seals(id),
    png         BLOB NOT NULL,
    sha256      TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    uploaded_by TEXT
);
ALTER TABLE seal_appearances ADD COLUMN approved_by TEXT;
-- Images uploaded before approval existed were never approved: they wait like new uploads.
INSERT INTO seal_appearance_uploads (seal_id, png, sha256, uploaded_at)
    SELECT seal_id, png, sha256, updated_at FROM seal_appearances;
DELETE FROM seal_appearances;
