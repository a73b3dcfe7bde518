-- Issue 17. A CA renewed (or replacing a revoked one) keeps its predecessor answering for the
-- certificates the predecessor issued: every CA has its own name, which its leaves record as
-- their issuer and which names its CRL (`/crl/{name}.crl`). A department's first CA (and the
-- first root) keep the implicit name they always had (NULL here): the department code, `root`.
ALTER TABLE certificates ADD COLUMN ca_name TEXT;
CREATE UNIQUE INDEX certificates_ca_name ON certificates (ca_name);
