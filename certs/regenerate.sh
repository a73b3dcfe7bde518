#!/usr/bin/env bash
# Regenerates the test trust material in certs/: an "external" CA that is not trustd's, with a
# document-signing certificate under it, for tests of verifying other systems' signatures and
# of registering trust anchors. TEST MATERIAL ONLY: these keys are public; never use them for
# anything real, and never put a production key in this folder.
set -euo pipefail
cd "$(dirname "$0")/external-test-ca"
rm -f ./*.pem ./*.key ./*.srl ./*.cnf
cat >ext.cnf <<'CNF'
[test_root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[test_signer]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 7300 \
  -subj "/C=CN/O=External Test Authority/CN=External Test Root CA" -extensions test_root -config <(cat /etc/ssl/openssl.cnf ext.cnf) 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout signer.key -out signer.csr -subj "/C=CN/O=External Test Authority/CN=External Test Signer" 2>/dev/null
openssl x509 -req -in signer.csr -CA root.pem -CAkey root.key -CAcreateserial -days 3650 \
  -extfile ext.cnf -extensions test_signer -out signer.pem 2>/dev/null
rm -f signer.csr root.srl ext.cnf
openssl verify -CAfile root.pem signer.pem
