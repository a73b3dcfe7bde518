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
    basic.unwrap().tbs_response_data.responses[0].cert_status
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
    // Names of generations that do not exist, or are not generations, are 404, not 500.
    for name in [
        format!("{code}.3"),
        format!("{code}.0"),
        format!("{code}.99999999999"),
        "root.7".to_owned(),
        "root-sm2.2".to_owned(),
        ".2".to_owned(),
    ] {
        for path in [format!("/ca/{name}.pem"), format!("/crl/{name}.crl")] {
            assert_problem(app.get(&path, None).await, 404).await;
        }
    }
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
        list.iter()
            .any(|(s, _, _)| s.trim_start_matches('0') == serial.trim_start_matches('0'))
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
    assert!(
        types.iter().any(|t| t == "department.ca_renewed"),
        "{types:?}"
    );
    assert!(types.iter().any(|t| t == "seal.recertified"), "{types:?}");
}

crate::clocked_tests!(renewal_keeps_what_the_old_ca_certified);

/// Appends `n` entries straight to the store (a thousand API calls would only be slower).
async fn append(ctx: &trustd::context::Context, from: usize, n: usize) {
    use trustd::log::{Event, EventType};
    for chunk in (from..from + n).collect::<Vec<_>>().chunks(100) {
        let mut writes = trustd::store::WriteSet::new();
        for i in chunk {
            let event = Event::new(
                EventType::DocumentStamped,
                OffsetDateTime::now_utc(),
                format!("rollover-{i}"),
            );
            writes = writes.event(event.to_new_event());
        }
        ctx.store.apply(writes).await.unwrap();
    }
}

/// Waits until the log's checkpoint holds at least `size` entries; returns its size.
async fn checkpointed(address: &str, size: u64) -> u64 {
    for _ in 0..200 {
        let note = reqwest::get(format!("{address}/api/v1/log/checkpoint"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let now: u64 = note.lines().nth(1).unwrap_or("0").parse().unwrap_or(0);
        if now >= size {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the log did not reach {size} entries");
}

/// The log's key rotated to a second shard: `trustd audit`, holding the first key, follows the
/// handover across both shards over a 1,000-entry log; a forged handover is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_log_is_audited_across_shards() {
    use trustd::config::{AuditArgs, Secret};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("trustd.db").display());
    let master = trustd::keys::vault::MasterKey::generate_base64()
        .unwrap()
        .to_string();
    let token = format!("rotate-admin-token-{}", crate::helpers::random_hex(16));
    let s = crate::helpers::settings(&dir, &url, &master, &token);
    let (address, ctx, handle) = crate::helpers::start(s.clone()).await.unwrap();
    let auditor: Value = reqwest::Client::new()
        .post(format!("{address}/api/v1/api-keys"))
        .bearer_auth(&token)
        .json(&json!({"role": "auditor"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auditor = auditor["token"].as_str().unwrap().to_owned();
    append(&ctx, 0, 1000).await;
    let first_size = checkpointed(&address, 1000).await;
    let old_key = ctx.log.verifier().to_key_string();
    let state = dir.path().join("audit.json");
    let args = |address: &str, state: &std::path::Path| AuditArgs {
        url: address.to_owned(),
        token: Some(Secret::new(auditor.clone())),
        state: state.to_owned(),
        key: None,
        witness: Vec::new(),
        quorum: None,
        ca_file: None,
    };
    let mut pinned = args(&address, &state);
    pinned.key = Some(old_key.clone());
    assert_eq!(trustd::audit::run(&pinned).await.unwrap().size, first_size);
    let before_rotation = std::fs::read(&state).unwrap();
    handle.stop(true).await;

    // The rotation: refused to the same origin, then done.
    let origin = ctx.log.origin().to_owned();
    assert!(trustd::startup::rotate_log(s.clone(), &origin)
        .await
        .is_err());
    let rotated = trustd::startup::rotate_log(s.clone(), "trustd.test/log/shard-2")
        .await
        .unwrap();
    assert_eq!(rotated.previous.end, first_size + 1);
    assert_ne!(rotated.vkey, old_key);

    // The second shard: new entries under the new key, the same tree.
    let (address, ctx, handle) = crate::helpers::start(s.clone()).await.unwrap();
    assert_eq!(ctx.log.origin(), "trustd.test/log/shard-2");
    let key = reqwest::get(format!("{address}/api/v1/log/key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(key.trim(), rotated.vkey);
    append(&ctx, 1000, 25).await;
    let size = checkpointed(&address, first_size + 26).await;
    let report = trustd::audit::run(&args(&address, &state)).await.unwrap();
    assert_eq!((report.size, report.entries_checked), (size, size));
    assert_eq!(report.previous_size, Some(first_size + 1));
    let kept: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(kept["key"], json!(rotated.vkey));
    // Again, now from the new key.
    assert!(trustd::audit::run(&args(&address, &state)).await.is_ok());

    // A forged handover (the same entry naming another key) is not followed.
    let mut shards = trustd::log::shards::ended_shards(ctx.store.as_ref())
        .await
        .unwrap();
    let genuine = shards.clone();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let entry = String::from_utf8(b64.decode(&shards[0].handover_entry).unwrap()).unwrap();
    let forged = entry.replace(&rotated.vkey, &old_key);
    assert_ne!(forged, entry);
    shards[0].handover_entry = b64.encode(forged);
    let set = |value: &Vec<trustd::log::shards::Shard>| trustd::store::Change::SetMeta {
        key: trustd::log::shards::META_LOG_SHARDS.into(),
        value: serde_json::to_vec(value).unwrap(),
    };
    ctx.store
        .apply(trustd::store::WriteSet::new().change(set(&shards)))
        .await
        .unwrap();
    let old_state = dir.path().join("audit-old.json");
    std::fs::write(&old_state, &before_rotation).unwrap();
    let err = trustd::audit::run(&args(&address, &old_state))
        .await
        .unwrap_err();
    assert!(
        matches!(err, trustd::audit::AuditError::Inclusion(_)),
        "{err}"
    );
    ctx.store
        .apply(trustd::store::WriteSet::new().change(set(&genuine)))
        .await
        .unwrap();
    assert!(trustd::audit::run(&args(&address, &old_state))
        .await
        .is_ok());
    // A key that never was this log's is not followed anywhere.
    let stranger = dir.path().join("audit-stranger.json");
    let mut other = args(&address, &stranger);
    other.key = Some(
        trustd::log::checkpoint::NoteVerifier::new("stranger.example/log", &[7u8; 32])
            .unwrap()
            .to_key_string(),
    );
    assert!(matches!(
        trustd::audit::run(&other).await.unwrap_err(),
        trustd::audit::AuditError::Signature(_)
    ));
    handle.stop(true).await;
}

/// The DER of every certificate in a PEM bundle.
fn pem_bundle(text: &str) -> Vec<Vec<u8>> {
    trustd::pki::pem_certificates(text)
}

/// A new root generation while the service runs: the old root and everything under it stay
/// trusted and answering; new department CAs come from the new root; the links certify each
/// root's key under the other (checked with x509-parser); seals and tokens under both verify.
async fn a_new_root_is_linked_to_the_old(app: TestApp) {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (code_a, _, op_a, _, type_a) = crate::licences::setup(&app).await;
    let seal_a: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op_a),
            &json!({"name": "旧根下的章", "kind": "official"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let sealed_a = stamp(&app, &op_a, seal_a["id"].as_str().unwrap()).await;
    let licence_a =
        crate::licences::issue(&app, &op_a, &crate::licences::licence_body(&type_a)).await;
    let old_root = ca_der(&app, "root").await;

    let s = crate::helpers::settings(
        &app.data_dir,
        &app.database_url,
        &app.master_key,
        &app.admin_token,
    );
    let renewed = trustd::startup::renew_root(s).await.unwrap();
    assert_eq!(renewed.name, "root.2");
    assert!(renewed.log_index.is_some());
    let new_root = ca_der(&app, "root.2").await;
    assert_ne!(new_root, old_root);
    assert_eq!(ca_der(&app, "root").await, old_root, "root stays the first");

    // A department created now is under the new root, revocable through its CRL.
    let code_b = crate::helpers::credit_code(77);
    app.create_department(&code_b, "新根下的局").await;
    let (_, op_b) = app.create_key("operator", Some(&code_b)).await;
    let ca_b = app.ctx.pki.department_ca(&code_b).await.unwrap();
    assert_eq!(ca_b.issuer, "root.2");
    assert!(trustd::pki::chain::issued_by(&ca_b.der, &new_root));
    let seal_b: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op_b),
            &json!({"name": "新根下的章", "kind": "official"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let sealed_b = stamp(&app, &op_b, seal_b["id"].as_str().unwrap()).await;
    let t: Value = app
        .post_json(
            "/api/v1/licence-types",
            Some(&op_b),
            &json!({"name": "证", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let licence_b = crate::licences::issue(
        &app,
        &op_b,
        &json!({"type_code": t["type_code"], "holder": {"name": "赵六", "code_type": "111", "code": crate::licences::CITIZEN}}),
    )
    .await;

    for (pdf, what) in [
        (&sealed_a, "under the old root"),
        (&sealed_b, "under the new root"),
    ] {
        passes(&app, pdf, what).await;
    }
    token_valid(&app, &licence_a["token"], "under the old root").await;
    token_valid(&app, &licence_b["token"], "under the new root").await;
    // The department under the old root still stamps, and what it stamps verifies.
    let again = stamp(&app, &op_a, seal_a["id"].as_str().unwrap()).await;
    passes(&app, &again, "the old root's department after the renewal").await;

    // The links: each root's name and key, certified by the other.
    let links = app.get("/ca/links.pem", None).await.text().await.unwrap();
    let links = pem_bundle(&links);
    assert_eq!(links.len(), 2);
    let (_, old) = X509Certificate::from_der(&old_root).unwrap();
    let (_, new) = X509Certificate::from_der(&new_root).unwrap();
    let mut seen = (false, false);
    for der in &links {
        let (_, link) = X509Certificate::from_der(der).unwrap();
        assert!(link.is_ca());
        let (subject, issuer) = if link.subject() == new.subject() {
            seen.0 = true;
            (&new, &old)
        } else {
            seen.1 = true;
            (&old, &new)
        };
        assert_eq!(link.subject(), subject.subject());
        assert_eq!(link.public_key().raw, subject.public_key().raw);
        assert_eq!(link.issuer(), issuer.subject());
        link.verify_signature(Some(issuer.public_key()))
            .expect("signed by the other root");
    }
    assert_eq!(seen, (true, true));

    // Each root signs its own CRL; both are trusted anchors; OCSP answers for both.
    check_crl(&crl(&app, "root").await, &old_root);
    check_crl(&crl(&app, "root.2").await, &new_root);
    let anchors: Value = app
        .get("/api/v1/trust-anchors", Some(&app.admin_token))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = anchors["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{anchors}"))
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert!(ids.contains(&"root") && ids.contains(&"root.2"), "{ids:?}");
    let ca_a = ca_der(&app, &code_a).await;
    let (_, ca_a_cert) = X509Certificate::from_der(&ca_a).unwrap();
    let serial_a = hex::encode(ca_a_cert.raw_serial());
    assert_eq!(
        ocsp_status(&app, &old_root, &serial_a).await,
        CertStatus::good()
    );
    assert_eq!(
        ocsp_status(&app, &new_root, &ca_b.serial).await,
        CertStatus::good()
    );
}

crate::dual_tests!(a_new_root_is_linked_to_the_old);
