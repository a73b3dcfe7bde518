//! Revocation: seals (operator) and department CAs (admin) are revoked with an RFC 5280
//! reason, logged, listed in the issuing CA's CRL (checked here with x509-parser: number,
//! authority key identifier, reason, invalidity date, signature), and can no longer be used.

use serde_json::{json, Value};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::dual_tests;
use crate::helpers::{assert_problem, credit_code, TestApp, INVALID};

pub async fn crl(app: &TestApp, ca: &str) -> Vec<u8> {
    let resp = app.get(&format!("/crl/{ca}.crl"), None).await;
    assert_eq!(resp.status(), 200, "CRL of {ca}");
    assert_eq!(resp.headers()["content-type"], "application/pkix-crl");
    resp.bytes().await.unwrap().to_vec()
}

pub async fn ca_der(app: &TestApp, ca: &str) -> Vec<u8> {
    let pem = app
        .get(&format!("/ca/{ca}.pem"), None)
        .await
        .text()
        .await
        .unwrap();
    rustls_pemfile_like(&pem)
}

/// The DER inside one PEM block.
fn rustls_pemfile_like(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// Checks a CRL against its CA and returns (number, revoked serials with reason codes).
pub fn check_crl(der: &[u8], ca: &[u8]) -> (u64, Vec<(String, Option<u8>, bool)>) {
    let (_, ca) = X509Certificate::from_der(ca).unwrap();
    let (rest, crl) = CertificateRevocationList::from_der(der).unwrap();
    assert!(rest.is_empty());
    crl.verify_signature(ca.public_key())
        .expect("signed by the CA");
    assert_eq!(crl.issuer(), ca.subject());
    let ski = ca
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .unwrap();
    let aki = crl
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .expect("authority key identifier");
    assert_eq!(aki, ski);
    let next = crl.next_update().expect("nextUpdate").timestamp();
    let this = crl.last_update().timestamp();
    assert!(
        next > this && next - this <= 24 * 3600,
        "nextUpdate at most 24 h ahead"
    );
    let number = crl.crl_number().expect("CRL number");
    let number: u64 = number.to_string().parse().unwrap();
    let revoked = crl
        .iter_revoked_certificates()
        .map(|r| {
            (
                hex::encode(r.raw_serial()),
                r.reason_code().map(|(_, c)| c.0),
                r.invalidity_date().is_some(),
            )
        })
        .collect();
    (number, revoked)
}

async fn revokes_seals_and_cas(app: TestApp) {
    let a = credit_code(31);
    let b = credit_code(32);
    app.create_department(&a, "福州市人民政府").await;
    app.create_department(&b, "福州市财政局").await;
    let (_, op_a) = app.create_key("operator", Some(&a)).await;
    let (_, op_b) = app.create_key("operator", Some(&b)).await;
    let seal: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op_a),
            &json!({"name": "合同章", "kind": "contract"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = seal["id"].as_str().unwrap().to_owned();
    let serial = seal["certificate_serial"].as_str().unwrap().to_owned();
    let dept_ca = ca_der(&app, &a).await;

    // Before: an empty CRL, number 1; fetching again serves the same one.
    let first = crl(&app, &a).await;
    let (n1, listed) = check_crl(&first, &dept_ca);
    assert!(listed.is_empty());
    assert_eq!(
        crl(&app, &a).await,
        first,
        "a fresh CRL is served as stored"
    );

    let revoke = |body: Value, token: String| {
        let app = &app;
        let id = id.clone();
        async move {
            app.post_json(&format!("/api/v1/seals/{id}/revoke"), Some(&token), &body)
                .await
        }
    };
    // Refusals: a reason that is not RFC 5280's, a future invalidity date, another department,
    // the admin (operators revoke their own seals).
    let p = assert_problem(
        revoke(json!({"reason": "tired"}), op_a.clone()).await,
        INVALID,
    )
    .await;
    assert_eq!(p["field"], "reason");
    let p = assert_problem(
        revoke(
            json!({"reason": "keyCompromise", "invalidity_date": "2999-01-01T00:00:00Z"}),
            op_a.clone(),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["field"], "invalidity_date");
    assert_problem(
        revoke(json!({"reason": "keyCompromise"}), op_b.clone()).await,
        404,
    )
    .await;
    assert_problem(
        revoke(json!({"reason": "keyCompromise"}), app.admin_token.clone()).await,
        403,
    )
    .await;

    let resp = revoke(
        json!({"reason": "keyCompromise", "invalidity_date": "2020-01-01T00:00:00Z"}),
        op_a.clone(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "revoked");
    assert_eq!(body["revocation_reason"], "keyCompromise");
    assert!(body["log_index"].is_u64());
    assert_problem(
        revoke(json!({"reason": "superseded"}), op_a.clone()).await,
        409,
    )
    .await;
    // A revoked seal can no longer stamp.
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/seals/{id}/stamp")))
        .bearer_auth(&op_a)
        .header("content-type", "application/pdf")
        .body(crate::stamp::sample_pdf(1))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 409).await;

    // The department CA's CRL now lists it, with reason keyCompromise (1) and the date.
    let second = crl(&app, &a).await;
    let (n2, listed) = check_crl(&second, &dept_ca);
    assert!(n2 > n1, "a new CRL number");
    assert_eq!(listed, vec![(serial.clone(), Some(1), true)]);

    // The admin revokes department B's CA: the root CRL lists it, B can no longer create seals.
    let root = ca_der(&app, "root").await;
    let (_, before) = check_crl(&crl(&app, "root").await, &root);
    assert!(before.is_empty());
    assert_problem(
        app.post_json(
            &format!("/api/v1/departments/{b}/ca/revoke"),
            Some(&op_b),
            &json!({"reason": "cessationOfOperation"}),
        )
        .await,
        403,
    )
    .await;
    let resp = app
        .post_json(
            &format!("/api/v1/departments/{b}/ca/revoke"),
            Some(&app.admin_token),
            &json!({"reason": "cessationOfOperation"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let dept: Value = resp.json().await.unwrap();
    assert_eq!(dept["ca_status"], "revoked");
    let (_, after) = check_crl(&crl(&app, "root").await, &root);
    assert_eq!(
        after,
        vec![(
            dept["ca_serial"].as_str().unwrap().to_owned(),
            Some(5),
            false
        )]
    );
    assert_problem(
        app.post_json(
            "/api/v1/seals",
            Some(&op_b),
            &json!({"name": "新章", "kind": "official"}),
        )
        .await,
        409,
    )
    .await;
    assert_problem(app.get("/crl/nobody.crl", None).await, 404).await;

    // Both revocations are in the log.
    let (_, auditor) = app.create_key("auditor", None).await;
    let found: Value = app
        .get(
            "/api/v1/log/search?type=certificate.revoked",
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    // The seal's revocation also revoked its SM2 twin, and the CA's its SM2 CA (issue 15).
    let entries = found["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{found:#}");
    let kinds: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    assert!(kinds.iter().any(|k| k.contains("sm2-seal")), "{kinds:?}");
    assert!(
        kinds.iter().any(|k| k.contains("sm2-department-ca")),
        "{kinds:?}"
    );
}

dual_tests!(revokes_seals_and_cas);

/// An OCSP request for `serial` issued by `issuer` (SHA-1 CertID, as openssl sends), with a
/// nonce when given.
pub fn ocsp_request(issuer: &[u8], serial: &[u8], nonce: Option<&[u8]>) -> Vec<u8> {
    use der::asn1::OctetString;
    use der::Encode;
    use x509_ocsp::{CertId, OcspRequest, Request, TbsRequest, Version};
    let (_, ca) = X509Certificate::from_der(issuer).unwrap();
    let sha1 = |d: &[u8]| {
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, d)
            .as_ref()
            .to_vec()
    };
    let id = CertId {
        hash_algorithm: x509_cert::spki::AlgorithmIdentifierOwned {
            oid: der::asn1::ObjectIdentifier::new_unwrap("1.3.14.3.2.26"),
            parameters: Some(der::asn1::Null.into()),
        },
        issuer_name_hash: OctetString::new(sha1(ca.subject().as_raw())).unwrap(),
        issuer_key_hash: OctetString::new(sha1(&ca.public_key().subject_public_key.data)).unwrap(),
        serial_number: x509_cert::serial_number::SerialNumber::new(serial).unwrap(),
    };
    let request_extensions = nonce.map(|n| {
        vec![x509_cert::ext::Extension {
            extn_id: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2"),
            critical: false,
            extn_value: OctetString::new(OctetString::new(n).unwrap().to_der().unwrap()).unwrap(),
        }]
    });
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: id,
                single_request_extensions: None,
            }],
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

/// POSTs an OCSP request; returns the response status and, when successful, the basic response
/// after checking its signature by the responder certificate it carries, that certificate's
/// issuer (`issuer`), and its OCSP-signing purpose.
pub async fn ocsp(
    app: &TestApp,
    body: Vec<u8>,
    issuer: &[u8],
) -> (
    x509_ocsp::OcspResponseStatus,
    Option<x509_ocsp::BasicOcspResponse>,
) {
    use der::{Decode, Encode};
    let resp = app
        .client
        .post(app.url("/ocsp"))
        .header("content-type", "application/ocsp-request")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/ocsp-response");
    let der = resp.bytes().await.unwrap();
    let answer = x509_ocsp::OcspResponse::from_der(&der).unwrap();
    let Some(bytes) = answer.response_bytes else {
        return (answer.response_status, None);
    };
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
    let responder = basic.certs.as_ref().unwrap()[0].to_der().unwrap();
    let (_, r) = X509Certificate::from_der(&responder).unwrap();
    let (_, ca) = X509Certificate::from_der(issuer).unwrap();
    r.verify_signature(Some(ca.public_key()))
        .expect("responder issued by the CA");
    let eku = r.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.ocsp_signing);
    assert!(r
        .iter_extensions()
        .any(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.48.1.5"));
    let tbs = basic.tbs_response_data.to_der().unwrap();
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_ASN1,
        &r.public_key().subject_public_key.data,
    )
    .verify(&tbs, basic.signature.raw_bytes())
    .expect("signed by the responder");
    (answer.response_status, Some(basic))
}

async fn answers_ocsp(app: TestApp) {
    use x509_ocsp::{CertStatus, OcspResponseStatus};
    let a = credit_code(41);
    app.create_department(&a, "福州市人民政府").await;
    let (_, op) = app.create_key("operator", Some(&a)).await;
    let seal: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op),
            &json!({"name": "公章", "kind": "official"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let serial = hex::decode(seal["certificate_serial"].as_str().unwrap()).unwrap();
    let dept_ca = ca_der(&app, &a).await;
    let root = ca_der(&app, "root").await;

    // Good, with the nonce echoed.
    let (status, basic) = ocsp(
        &app,
        ocsp_request(&dept_ca, &serial, Some(b"0123456789abcdef")),
        &dept_ca,
    )
    .await;
    assert_eq!(status, OcspResponseStatus::Successful);
    let basic = basic.unwrap();
    assert_eq!(basic.nonce().unwrap().0.as_bytes(), b"0123456789abcdef");
    let single = &basic.tbs_response_data.responses[0];
    assert_eq!(single.cert_status, CertStatus::good());
    assert!(single.next_update.is_some());

    // Revoked, with time and reason; the same over GET.
    app.post_json(
        &format!("/api/v1/seals/{}/revoke", seal["id"].as_str().unwrap()),
        Some(&op),
        &json!({"reason": "keyCompromise"}),
    )
    .await;
    let (_, basic) = ocsp(&app, ocsp_request(&dept_ca, &serial, None), &dept_ca).await;
    let status = basic.unwrap().tbs_response_data.responses[0].cert_status;
    let CertStatus::Revoked(info) = status else {
        panic!("expected revoked, got {status:?}")
    };
    assert_eq!(
        info.revocation_reason,
        Some(x509_cert::ext::pkix::CrlReason::KeyCompromise)
    );
    use base64::Engine as _;
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(ocsp_request(&dept_ca, &serial, None));
    let get = app
        .get(
            &format!(
                "/ocsp/{}",
                b64.replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D")
            ),
            None,
        )
        .await;
    assert_eq!(get.status(), 200);
    let body = get.bytes().await.unwrap();
    use der::Decode;
    let answer = x509_ocsp::OcspResponse::from_der(&body).unwrap();
    assert_eq!(answer.response_status, OcspResponseStatus::Successful);

    // A serial the CA never issued is unknown; the department CA itself is good at the root.
    let (_, basic) = ocsp(
        &app,
        ocsp_request(&dept_ca, &[0x01, 0x02, 0x03], None),
        &dept_ca,
    )
    .await;
    assert_eq!(
        basic.unwrap().tbs_response_data.responses[0].cert_status,
        CertStatus::unknown()
    );
    let (_, ca) = X509Certificate::from_der(&dept_ca).unwrap();
    let (_, basic) = ocsp(&app, ocsp_request(&root, ca.raw_serial(), None), &root).await;
    assert_eq!(
        basic.unwrap().tbs_response_data.responses[0].cert_status,
        CertStatus::good()
    );

    // Not ours: unauthorized. Not OCSP: malformedRequest, never an HTTP error.
    let stranger = rcgen::generate_simple_self_signed(vec!["x".into()])
        .unwrap()
        .cert
        .der()
        .to_vec();
    let (status, _) = ocsp(&app, ocsp_request(&stranger, &serial, None), &root).await;
    assert_eq!(status, OcspResponseStatus::Unauthorized);
    for junk in [
        b"".to_vec(),
        b"garbage".to_vec(),
        vec![0x30, 0x80, 0x00, 0x00],
    ] {
        let (status, _) = ocsp(&app, junk, &root).await;
        assert_eq!(status, OcspResponseStatus::MalformedRequest);
    }
    let get = app.get("/ocsp/%%%not-base64", None).await;
    assert_eq!(get.status(), 200);
}

dual_tests!(answers_ocsp);
