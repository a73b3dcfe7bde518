-- Issue 18. A licence token's protected header (alg, kid, typ and the x5c chain: about 2.5 KB
-- in base64url) is the same for every licence one signer signs, and a licence holds two tokens
-- (the JWS and the SD-JWT): two thirds of each row. Each distinct header is stored once, by the
-- SHA-256 of its text; a licence stored from now on keeps its tokens from the first '.' on and
-- the digests of their headers. A row stored before keeps its whole tokens (NULL digests).
CREATE TABLE token_headers (
    sha256 BLOB PRIMARY KEY,
    header TEXT NOT NULL
);
ALTER TABLE licences ADD COLUMN token_header BLOB;
ALTER TABLE licences ADD COLUMN sd_jwt_header BLOB;
