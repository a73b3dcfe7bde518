-- Electronic licences (电子证照): the catalogue of types and the licences issued.
CREATE TABLE licence_types (
    type_code               TEXT PRIMARY KEY,
    department_code         TEXT NOT NULL REFERENCES departments(code),
    seq                     BIGINT NOT NULL,
    name                    TEXT NOT NULL,
    fields                  TEXT NOT NULL,
    holder_kind             TEXT NOT NULL,
    validity_days           BIGINT,
    token_omits_holder_code BIGINT NOT NULL,
    created_at              BIGINT NOT NULL,
    UNIQUE (department_code, seq)
);

CREATE TABLE licences (
    identifier          TEXT PRIMARY KEY,
    type_code           TEXT NOT NULL REFERENCES licence_types(type_code),
    number              TEXT NOT NULL,
    holder_name         TEXT NOT NULL,
    holder_code_type    TEXT NOT NULL,
    holder_code         TEXT NOT NULL,
    holder_hash         TEXT NOT NULL,
    issuer_code         TEXT NOT NULL REFERENCES departments(code),
    issue_date          TEXT NOT NULL,
    valid_from          TEXT NOT NULL,
    valid_until         TEXT,
    area_code           TEXT,
    face                TEXT NOT NULL,
    status              TEXT NOT NULL,
    status_reason       TEXT,
    status_at           BIGINT,
    previous_identifier TEXT,
    signer_serial       TEXT NOT NULL REFERENCES certificates(serial),
    token               TEXT NOT NULL,
    created_at          BIGINT NOT NULL
);
CREATE INDEX licences_holder ON licences (holder_hash);
CREATE INDEX licences_issuer ON licences (issuer_code, created_at);
CREATE INDEX certificates_kind ON certificates (kind, department_code);
