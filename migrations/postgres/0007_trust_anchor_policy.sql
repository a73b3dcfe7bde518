-- What each registered trust anchor is trusted for, whether revocation status is required
-- under it, and whether an admin has disabled it.
ALTER TABLE trust_anchors ADD COLUMN purposes TEXT NOT NULL DEFAULT 'documents,timestamps,licences';
ALTER TABLE trust_anchors ADD COLUMN revocation_required BIGINT NOT NULL DEFAULT 1;
ALTER TABLE trust_anchors ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
