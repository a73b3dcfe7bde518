-- Issue 16. Cosignatures of the log's checkpoints by the witnesses the admin configured
-- (c2sp.org/tlog-cosignature lines, verified before they are stored). A checkpoint counts as
-- witnessed when a quorum of the configured witnesses cosigned it.
CREATE TABLE log_cosignatures (
    size       INTEGER NOT NULL REFERENCES log_checkpoints(size),
    witness    TEXT NOT NULL,
    line       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (size, witness)
);
CREATE INDEX log_cosignatures_witness ON log_cosignatures (witness, size);
