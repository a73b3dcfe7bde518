//! Issue 17, rollover: a department CA renewed while it is still good. The old CA keeps
//! answering for what it certified (its own CRL, its own OCSP responder), the seals get new
//! certificates under the new CA, and documents sealed and tokens signed before and after the
//! renewal all verify.

use std::sync::Arc;

use serde_json::{json, Value};
use time::OffsetDateTime;
use trustd::clock::FixedClock;
use x509_ocsp::{CertStatus, OcspResponseStatus};

use crate::helpers::{assert_problem, TestApp};
use crate::revocation::{ca_der, check_crl, crl, ocsp, ocsp_request};

/// Stamps the sample PDF with `seal` and checks our verifier passes it.
async fn stamp(app: &TestApp, op: &str, seal: &str) -> Vec<u8> {
    let resp = crate::stamp::post_pdf(app, op, seal, "", crate::stamp::sample_pdf(1)).await;
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap().to_vec()
}

async fn passes(app: &TestApp, pdf: &[u8], what: &str) {
    let report = crate::stamp::verify_report(app, pdf).await.unwrap();
    assert_eq!(report["indication"], "TOTAL-PASSED", "{what}: {report}");
}

async fn token_valid(app: &TestApp, token: &Value, what: &str) {
    let report: Value = app
        .post_json("/api/v1/verify/licence", None, &json!({"token": token}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            &report["signature_valid"],
            &report["chain_valid"],
            &report["status"]
        ),
        (&json!(true), &json!(true), &json!("valid")),
        "{what}: {report}"
    );
}

/// The OCSP status of `serial` asked of the CA `issuer` (DER), its answer's signature checked.
async fn ocsp_status(app: &TestApp, issuer: &[u8], serial: &str) -> CertStatus {
    app.ctx.pki.forget_ocsp_answers();
    let serial = hex::decode(serial).unwrap();
    let (status, basic) = ocsp(app, ocsp_request(issuer, &serial, None), issuer).await;
    assert_eq!(status, OcspResponseStatus::Successful);
    basic.unwrap().tbs_response_data.responses[0]
        .cert_status
        .clone()
}

async fn renewal_keeps_what_the_old_ca_certified(app: TestApp, clock: Arc<FixedClock>) {
    let (code, _, op, _, type_code) = crate::licences::setup(&app).await;
    let body = crate::licences::licence_body(&type_code);
    let seal: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op),
            &json!({"name": "换证专用章", "kind": "official"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let seal_id = seal["id"].as_str().unwrap();
    let old_seal_serial = seal["certificate_serial"].as_str().unwrap().to_owned();
    let old_ca = ca_der(&app, &code).await;
    let sealed_before = stamp(&app, &op, seal_id).await;
    let licence_before = crate::licences::issue(&app, &op, &body).await;

    // A month later the admin renews it (an operator may not), to move to a new key.
    let old = app.ctx.pki.department_ca(&code).await.unwrap();
    clock.set(OffsetDateTime::from_unix_timestamp(old.not_before + 30 * 86_400).unwrap());
    let path = format!("/api/v1/departments/{code}/ca");
    assert_problem(app.post_json(&path, Some(&op), &json!({})).await, 403).await;
    let resp = app
        .post_json(&path, Some(&app.admin_token), &json!({}))
        .await;
    assert_eq!(resp.status(), 201);
    let renewed: Value = resp.json().await.unwrap();
    assert_ne!(renewed["ca_serial"], json!(old.serial));
    let new_ca = ca_der(&app, &code).await;
    assert_ne!(new_ca, old_ca);
    assert_eq!(ca_der(&app, &format!("{code}.2")).await, new_ca);
    let new = app.ctx.pki.department_ca(&code).await.unwrap();
    assert!(new.not_after > old.not_after + 29 * 86_400);

    // The seal has a new certificate under the new CA; the old one is not revoked.
    let seal_now = app.ctx.store.seal(seal_id).await.unwrap().unwrap();
    assert_ne!(seal_now.certificate_serial, old_seal_serial);
    let cert = app
        .ctx
        .store
        .certificate(&seal_now.certificate_serial)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cert.issuer, format!("{code}.2"));
    assert!(trustd::pki::chain::issued_by(&cert.der, &new_ca));
    let sealed_after = stamp(&app, &op, seal_id).await;
    let licence_after = crate::licences::issue(&app, &op, &body).await;

    // Everything verifies: before and after, documents and tokens.
    passes(&app, &sealed_before, "sealed under the old CA").await;
    passes(&app, &sealed_after, "sealed under the new CA").await;
    token_valid(&app, &licence_before["token"], "signed under the old CA").await;
    token_valid(&app, &licence_after["token"], "signed under the new CA").await;

    // Each CA answers for its own: OCSP (by its own responder) and its own CRL.
    let good = CertStatus::good();
    assert_eq!(ocsp_status(&app, &old_ca, &old_seal_serial).await, good);
    assert_eq!(
        ocsp_status(&app, &new_ca, &seal_now.certificate_serial).await,
        good
    );
    assert_eq!(
        ocsp_status(&app, &new_ca, &old_seal_serial).await,
        CertStatus::unknown()
    );
    let revoke = app
        .post_json(
            &format!("/api/v1/seals/{seal_id}/revoke"),
            Some(&op),
            &json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(revoke.status(), 200);
    let (_, on_old) = check_crl(&crl(&app, &code).await, &old_ca);
    let (_, on_new) = check_crl(&crl(&app, &format!("{code}.2")).await, &new_ca);
    let listed = |list: &[(String, Option<u8>, bool)], serial: &str| {
        list.iter().any(|(s, _, _)| s.trim_start_matches('0') == serial.trim_start_matches('0'))
    };
    assert!(listed(&on_new, &seal_now.certificate_serial), "{on_new:?}");
    assert!(!listed(&on_new, &old_seal_serial));
    assert!(!listed(&on_old, &seal_now.certificate_serial));
    assert!(matches!(
        ocsp_status(&app, &new_ca, &seal_now.certificate_serial).await,
        CertStatus::Revoked(_)
    ));

    // The renewal and the new seal certificate are in the log.
    app.wait_for_checkpoint().await;
    let note = app
        .get("/api/v1/log/checkpoint", None)
        .await
        .text()
        .await
        .unwrap();
    let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
    let (_, auditor) = app.create_key("auditor", None).await;
    let log: Value = app
        .get(
            &format!("/api/v1/log/entries?start=0&end={size}"),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    use base64::Engine as _;
    let types: Vec<String> = log["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .map(|e| {
            let entry = base64::engine::general_purpose::STANDARD
                .decode(e["entry"].as_str().unwrap())
                .unwrap();
            let entry: Value = serde_json::from_slice(&entry).unwrap();
            entry["type"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(types.iter().any(|t| t == "department.ca_renewed"), "{types:?}");
    assert!(types.iter().any(|t| t == "seal.recertified"), "{types:?}");
}

crate::clocked_tests!(renewal_keeps_what_the_old_ca_certified);
