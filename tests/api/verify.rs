//! `POST /api/v1/verify/pdf`: reports on our own seals (time-stamps, revocation before and
//! after, tampering, disallowed changes), on a signature from another system before and after
//! its root is registered as a trust anchor, and refusals of what is not a PDF.

use std::sync::Arc;

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::helpers::{assert_problem, credit_code, TestApp};
use crate::stamp::sample_pdf;

async fn verify(app: &TestApp, pdf: &[u8]) -> Value {
    crate::stamp::verify_report(app, pdf)
        .await
        .expect("a report")
}

pub async fn setup(app: &TestApp, n: u32) -> (String, String) {
    let code = credit_code(n);
    app.create_department(&code, "福州市人民政府").await;
    let (_, op) = app.create_key("operator", Some(&code)).await;
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
    (op, seal["id"].as_str().unwrap().to_owned())
}

pub async fn stamp(app: &TestApp, op: &str, seal: &str, level: &str, pdf: Vec<u8>) -> Vec<u8> {
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/seals/{seal}/stamp?level={level}")))
        .bearer_auth(op)
        .header("content-type", "application/pdf")
        .body(pdf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap().to_vec()
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

async fn reports_on_our_seals(app: TestApp, clock: Arc<trustd::clock::FixedClock>) {
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let (op, seal) = setup(&app, 51).await;
    let original = sample_pdf(1);
    let sealed = stamp(&app, &op, &seal, "B-T", original.clone()).await;
    let basic = stamp(&app, &op, &seal, "B-B", original.clone()).await;

    let r = verify(&app, &sealed).await;
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r}");
    let s = &r["signatures"][0];
    assert_eq!(s["kind"], "approval");
    assert_eq!(s["sub_filter"], "ETSI.CAdES.detached");
    assert_eq!(
        (s["digest_ok"].as_bool(), s["signature_ok"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(s["covers_whole_document"], true);
    assert_eq!(s["modifications"], "none");
    assert_eq!(s["signer_organisation"], "福州市人民政府");
    assert_eq!(s["signer_organisation_identifier"], credit_code(51));
    assert!(s["timestamp_time"].is_string() && s["timestamp_ok"] == true);
    assert_eq!(s["trust_anchor"], "trustd root CA (this installation)");
    assert_eq!(s["chain"].as_array().unwrap().len(), 3);
    assert!(s["revocation"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["now"] == "good" && v["source"] == "database"));

    // A document without signatures says so.
    let r = verify(&app, &original).await;
    assert_eq!(r["indication"], "INDETERMINATE");
    assert_eq!(r["sub_indication"], "NO_SIGNATURE_FOUND");

    // One byte changed inside the signed bytes: HASH_FAILURE. Inside the signature: not valid.
    let mut tampered = sealed.clone();
    tampered[original.len() / 2] ^= 0x01;
    let r = verify(&app, &tampered).await;
    assert_eq!(
        (r["indication"].as_str(), r["sub_indication"].as_str()),
        (Some("TOTAL-FAILED"), Some("HASH_FAILURE"))
    );
    let mut tampered = sealed.clone();
    let contents = find(&sealed[original.len()..], b"/Contents <") + original.len() + 11;
    tampered[contents + 200] = if tampered[contents + 200] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let r = verify(&app, &tampered).await;
    assert_eq!(r["indication"], "TOTAL-FAILED", "{r}");

    // A later update that changes the page's content: a disallowed modification.
    let mut modified = sealed.clone();
    let doc = lopdf::Document::load_mem(&sealed).unwrap();
    let page = *doc.get_pages().get(&1).unwrap();
    let mut page_dict = doc.get_dictionary(page).unwrap().clone();
    let size = doc.trailer.get(b"Size").unwrap().as_i64().unwrap();
    let content = u32::try_from(size).unwrap();
    page_dict.set("Contents", lopdf::Object::Reference((content, 0)));
    let prev = {
        let tail = std::str::from_utf8(&sealed[sealed.len() - 40..]).unwrap();
        tail.split("startxref")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    let page_at = modified.len();
    let mut body = Vec::new();
    lopdf::Writer::write_object(&mut body, &lopdf::Object::Dictionary(page_dict)).unwrap();
    modified.extend_from_slice(format!("{} 0 obj\n", page.0).as_bytes());
    modified.extend_from_slice(&body);
    modified.extend_from_slice(b"\nendobj\n");
    let content_at = modified.len();
    let text = b"BT /F1 24 Tf 72 600 Td (Forged) Tj ET";
    modified.extend_from_slice(
        format!("{content} 0 obj\n<< /Length {} >>\nstream\n", text.len()).as_bytes(),
    );
    modified.extend_from_slice(text);
    modified.extend_from_slice(b"\nendstream\nendobj\n");
    let xref_at = modified.len();
    let mut xref = format!("xref\n{} 1\n{page_at:010} 00000 n\r\n", page.0);
    xref.push_str(&format!("{content} 1\n{content_at:010} 00000 n\r\n"));
    modified.extend_from_slice(xref.as_bytes());
    modified.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root {} 0 R /Prev {prev} >>\nstartxref\n{xref_at}\n%%EOF\n",
            i64::from(content) + 1,
            root.0
        )
        .as_bytes(),
    );
    let r = verify(&app, &modified).await;
    let s = &r["signatures"][0];
    assert_eq!(s["modifications"], "disallowed", "{r}");
    assert_eq!(s["covers_whole_document"], false);
    assert_eq!(
        (r["indication"].as_str(), r["sub_indication"].as_str()),
        (Some("TOTAL-FAILED"), Some("SIG_CONSTRAINTS_FAILURE"))
    );

    // B-LTA: the seal, its DSS and the document time-stamp all pass; the seal's later updates
    // are allowed ones.
    let lta = stamp(&app, &op, &seal, "B-LTA", original.clone()).await;
    let r = verify(&app, &lta).await;
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r}");
    let sigs = r["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    assert_eq!(sigs[0]["modifications"], "allowed");
    assert_eq!(sigs[1]["kind"], "document-timestamp");

    // Time semantics: the seal is revoked ten minutes after it sealed.
    clock.set(t0 + time::Duration::minutes(10));
    let resp = app
        .post_json(
            &format!("/api/v1/seals/{seal}/revoke"),
            Some(&op),
            &json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    clock.set(t0 + time::Duration::minutes(20));
    // Signed before, with a trusted time-stamp: still passes, and the revocation is reported.
    let r = verify(&app, &sealed).await;
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r}");
    let leaf = &r["signatures"][0]["revocation"][0];
    assert_eq!(
        (leaf["at_signing_time"].as_str(), leaf["now"].as_str()),
        (Some("good"), Some("revoked"))
    );
    assert_eq!(leaf["reason"], "keyCompromise");
    // Without a time-stamp there is no proof it was made before: REVOKED_NO_POE.
    let r = verify(&app, &basic).await;
    assert_eq!(
        (r["indication"].as_str(), r["sub_indication"].as_str()),
        (Some("INDETERMINATE"), Some("REVOKED_NO_POE"))
    );

    // A second seal compromised before it sealed (invalidity date before the time-stamp):
    // the time-stamp does not save it.
    clock.set(t0 + time::Duration::minutes(30));
    let other: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op),
            &json!({"name": "合同章", "kind": "contract"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let other = other["id"].as_str().unwrap().to_owned();
    clock.set(t0 + time::Duration::minutes(40));
    let late = stamp(&app, &op, &other, "B-T", original.clone()).await;
    clock.set(t0 + time::Duration::minutes(50));
    let invalid_since = trustd::clock::rfc3339((t0 + time::Duration::minutes(35)).unix_timestamp());
    app.post_json(
        &format!("/api/v1/seals/{other}/revoke"),
        Some(&op),
        &json!({"reason": "keyCompromise", "invalidity_date": invalid_since}),
    )
    .await;
    let r = verify(&app, &late).await;
    assert_eq!(
        (r["indication"].as_str(), r["sub_indication"].as_str()),
        (Some("TOTAL-FAILED"), Some("REVOKED")),
        "{r}"
    );
}

/// A PDF signed by another system (its own CA, RSA or ECDSA, adbe.pkcs7.detached): no chain
/// until its root is registered as a trust anchor.
async fn trusts_registered_anchors(app: TestApp, _clock: Arc<trustd::clock::FixedClock>) {
    use trustd::keys::{KeyAlgorithm, SoftwareKey};
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Other System Root");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Other Signer");
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Other Bureau");
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let key =
        SoftwareKey::from_pkcs8(KeyAlgorithm::EcdsaP256Sha256, &leaf_key.serialize_der()).unwrap();
    let leaf_der = leaf.der().to_vec();
    let chain = vec![ca_cert.der().to_vec()];
    let original = sample_pdf(1);
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    digest.update(&original);
    let sign = |d: &[u8; 32]| {
        let signer = trustd::pki::cms::CmsSigner {
            key: &key,
            certificate: &leaf_der,
            chain: &chain,
        };
        let info = trustd::pki::cms::signer_info(&signer, trustd::pki::cms::ID_DATA, d).unwrap();
        Ok(trustd::pki::cms::assemble(&signer, trustd::pki::cms::ID_DATA, None, info).unwrap())
    };
    let sealed = trustd::seal::pdf::seal(
        &original,
        digest,
        trustd::seal::pdf::SealRequest {
            placement: trustd::seal::pdf::Placement {
                page: None,
                x: 10.0,
                y: 10.0,
                width: 80.0,
                visible: false,
            },
            field_name: "OtherSystem".into(),
            seal_name: "Other Signer",
            department_name: "",
            kind: "other",
            image: None,
            reason: None,
            location: None,
            signing_time: "D:20260101000000+00'00'".into(),
            reserve: 4096,
            doc_timestamp: false,
            limits: Default::default(),
        },
        Box::new(sign),
    )
    .unwrap();
    let mut pdf = original.clone();
    pdf.extend_from_slice(&sealed.update);

    let r = verify(&app, &pdf).await;
    let s = &r["signatures"][0];
    assert_eq!(
        (s["digest_ok"].as_bool(), s["signature_ok"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(
        (r["indication"].as_str(), r["sub_indication"].as_str()),
        (Some("INDETERMINATE"), Some("NO_CERTIFICATE_CHAIN_FOUND"))
    );

    // Registering: admin only, a root only, once.
    let pem = ca_cert.pem();
    assert_problem(
        app.post_json(
            "/api/v1/trust-anchors",
            Some(&app.admin_token),
            &json!({"label": "leaf", "pem": leaf.pem()}),
        )
        .await,
        422,
    )
    .await;
    let resp = app
        .post_json(
            "/api/v1/trust-anchors",
            Some(&app.admin_token),
            &json!({"label": "其他系统根证书", "pem": pem}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    assert_problem(
        app.post_json(
            "/api/v1/trust-anchors",
            Some(&app.admin_token),
            &json!({"label": "again", "pem": pem}),
        )
        .await,
        409,
    )
    .await;
    let list: Value = app
        .get("/api/v1/trust-anchors", None)
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    // The two roots of this installation (P-256 and SM2), then the registered one.
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["builtin"], true);
    assert_eq!(items[1]["id"], "root-sm2");

    // The other system publishes no revocation data: with the default policy the signature
    // cannot be confirmed.
    let r = verify(&app, &pdf).await;
    assert_eq!(r["indication"], "INDETERMINATE", "{r}");
    assert_eq!(r["sub_indication"], "TRY_LATER", "{r}");
    // Registered as needing no revocation data (a closed PKI), it passes.
    let id = items[2]["id"].as_str().unwrap().to_owned();
    let resp = app
        .delete(
            &format!("/api/v1/trust-anchors/{id}"),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let resp = app
        .post_json(
            "/api/v1/trust-anchors",
            Some(&app.admin_token),
            &json!({"label": "其他系统根证书", "pem": pem, "revocation_required": false,
                    "purposes": ["documents"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let anchor: Value = resp.json().await.unwrap();
    assert_eq!(anchor["revocation_required"], false);
    let r = verify(&app, &pdf).await;
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r}");
    assert_eq!(r["signatures"][0]["trust_anchor"], "其他系统根证书");
    assert_eq!(r["signatures"][0]["signer_organisation"], "Other Bureau");
    // Nothing says whether it is revoked: reported as unknown, not held against it.
    assert_eq!(r["signatures"][0]["revocation"][0]["now"], "unknown");
    // Disabled, it is listed but not trusted; enabled again, trusted.
    let aid = anchor["id"].as_str().unwrap();
    let resp = app
        .post_json(
            &format!("/api/v1/trust-anchors/{aid}/disable"),
            Some(&app.admin_token),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let r = verify(&app, &pdf).await;
    assert_eq!(r["sub_indication"], "NO_CERTIFICATE_CHAIN_FOUND", "{r}");
    let resp = app
        .post_json(
            &format!("/api/v1/trust-anchors/{aid}/enable"),
            Some(&app.admin_token),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(verify(&app, &pdf).await["indication"], "TOTAL-PASSED");
    // The installation's own root cannot be disabled or deleted; purposes must be known ones.
    assert_problem(
        app.post_json(
            "/api/v1/trust-anchors/root/disable",
            Some(&app.admin_token),
            &json!({}),
        )
        .await,
        409,
    )
    .await;
    assert_problem(
        app.delete("/api/v1/trust-anchors/root", Some(&app.admin_token))
            .await,
        409,
    )
    .await;
    for purposes in [json!([]), json!(["signing"])] {
        assert_problem(
            app.post_json(
                "/api/v1/trust-anchors",
                Some(&app.admin_token),
                &json!({"label": "x", "pem": pem, "purposes": purposes}),
            )
            .await,
            422,
        )
        .await;
    }
    // Operators may not change anchors; every change is in the log.
    let (_, auditor) = app.create_key("auditor", None).await;
    let log = app
        .get("/api/v1/log/entries?start=0", Some(&auditor))
        .await
        .text()
        .await
        .unwrap();
    for event in [
        "trust_anchor.added",
        "trust_anchor.deleted",
        "trust_anchor.disabled",
        "trust_anchor.enabled",
    ] {
        assert!(log.contains(event), "{event} missing from {log}");
    }

    // Not a PDF, the wrong type, too large.
    let resp = app
        .client
        .post(app.url("/api/v1/verify/pdf"))
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.7\nnot really".to_vec())
        .send()
        .await
        .unwrap();
    let p = assert_problem(resp, 422).await;
    assert_eq!(p["type"], "/problems/malformed-pdf");
    let resp = app
        .client
        .post(app.url("/api/v1/verify/pdf"))
        .header("content-type", "text/plain")
        .body(pdf.clone())
        .send()
        .await
        .unwrap();
    assert_problem(resp, 415).await;
    let resp = app
        .client
        .post(app.url("/api/v1/verify/pdf"))
        .header("content-type", "application/pdf")
        .body(vec![b'%'; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_problem(resp, 413).await;
}

crate::clocked_tests!(reports_on_our_seals, trusts_registered_anchors);
