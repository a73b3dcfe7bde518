//! Revocation: seals (operator) and department CAs (admin) are revoked with an RFC 5280
//! reason, logged, listed in the issuing CA's CRL (checked here with x509-parser: number,
//! authority key identifier, reason, invalidity date, signature), and can no longer be used.

use serde_json::{json, Value};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::dual_tests;
use crate::helpers::{assert_problem, credit_code, TestApp};

async fn crl(app: &TestApp, ca: &str) -> Vec<u8> {
    let resp = app.get(&format!("/crl/{ca}.crl"), None).await;
    assert_eq!(resp.status(), 200, "CRL of {ca}");
    assert_eq!(resp.headers()["content-type"], "application/pkix-crl");
    resp.bytes().await.unwrap().to_vec()
}

async fn ca_der(app: &TestApp, ca: &str) -> Vec<u8> {
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
fn check_crl(der: &[u8], ca: &[u8]) -> (u64, Vec<(String, Option<u8>, bool)>) {
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
    let p = assert_problem(revoke(json!({"reason": "tired"}), op_a.clone()).await, 400).await;
    assert_eq!(p["field"], "reason");
    let p = assert_problem(
        revoke(
            json!({"reason": "keyCompromise", "invalidity_date": "2999-01-01T00:00:00Z"}),
            op_a.clone(),
        )
        .await,
        400,
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
    assert_eq!(found["entries"].as_array().unwrap().len(), 2);
}

dual_tests!(revokes_seals_and_cas);
