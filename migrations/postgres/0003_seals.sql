-- Electronic seals (电子印章): each with its own key and certificate under the department CA.
CREATE TABLE seals (
    id                 TEXT PRIMARY KEY,
    department_code    TEXT NOT NULL REFERENCES departments(code),
    name               TEXT NOT NULL,
    kind               TEXT NOT NULL,
    certificate_serial TEXT NOT NULL REFERENCES certificates(serial),
    created_at         BIGINT NOT NULL
);
CREATE INDEX seals_department ON seals (department_code, created_at);
