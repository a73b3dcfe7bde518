-- Issue 15. Each seal's national twin: an SM2 certificate under the department's SM2 CA and
-- the GB/T 38540 seal (SESeal v4, DER) that the department's SM2 CA signed as seal maker.
-- The SM2 root and CAs themselves are certificates like the others (kinds sm2-*); their keys
-- cannot be made in SQL, so installations that predate this migration get them at the next
-- start (startup::ensure_national), logged like every issuance.
CREATE TABLE seal_esls (
    seal_id            TEXT PRIMARY KEY REFERENCES seals(id),
    certificate_serial TEXT NOT NULL REFERENCES certificates(serial),
    esl                BLOB NOT NULL,
    created_at         INTEGER NOT NULL
);
