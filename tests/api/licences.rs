//! Electronic licences through the API: catalogue, issuance, tokens, status changes, sharing,
//! the citizen's page and verification, with the refusals.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use trustd::licence::identifier::LicenceIdentifier;

use crate::dual_tests;
use crate::helpers::{assert_problem, credit_code, TestApp, INVALID};

pub const CITIZEN: &str = "11010519491231002X";

/// Two departments with operators, a person licence type in A. Returns (a, b, op_a, op_b, type_code).
pub async fn setup(app: &TestApp) -> (String, String, String, String, String) {
    let a = credit_code(10);
    let b = credit_code(20);
    app.create_department(&a, "福州市公安局").await;
    app.create_department(&b, "福州市民政局").await;
    let (_, op_a) = app.create_key("operator", Some(&a)).await;
    let (_, op_b) = app.create_key("operator", Some(&b)).await;
    let resp = app
        .post_json(
            "/api/v1/licence-types",
            Some(&op_a),
            &json!({
                "name": "居住证",
                "holder_kind": "person",
                "fields": [
                    {"key": "address", "label": "居住地址", "required": true},
                    {"key": "remark", "label": "备注"}
                ],
                "validity_days": 365
            }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let t: Value = resp.json().await.unwrap();
    let type_code = t["type_code"].as_str().unwrap().to_owned();
    assert_eq!(type_code, format!("{a}001"));
    assert!(t["log_index"].as_u64().is_some());
    (a, b, op_a, op_b, type_code)
}

pub fn licence_body(type_code: &str) -> Value {
    json!({
        "type_code": type_code,
        "holder": {"name": "张三丰", "code_type": "111", "code": CITIZEN},
        "face": {"address": "福州市鼓楼区五四路 1 号"},
        "area_code": "350102"
    })
}

pub async fn issue(app: &TestApp, op: &str, body: &Value) -> Value {
    let resp = app.post_json("/api/v1/licences", Some(op), body).await;
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

fn b64_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn verify(app: &TestApp, body: Value) -> Value {
    let resp = app.post_json("/api/v1/verify/licence", None, &body).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn issues_a_verifiable_licence(app: TestApp) {
    let (a, _, op_a, _, type_code) = setup(&app).await;
    let body = issue(&app, &op_a, &licence_body(&type_code)).await;
    let id = body["identifier"].as_str().unwrap().to_owned();
    let parsed = LicenceIdentifier::parse(&id).unwrap();
    assert_eq!(
        (parsed.type_code(), parsed.issuer_code()),
        (type_code.as_str(), a.as_str())
    );
    assert_eq!(body["status"], "valid");
    assert_eq!(body["verify_url"], format!("{}/v/{id}", app.address));
    assert!(body["qr_svg_url"].as_str().unwrap().ends_with("/qr.svg"));
    assert!(body["log_index"].as_u64().is_some());
    assert_eq!(body["valid_until"].as_str().unwrap().len(), 10);

    // The token: ES256, typ, kid, x5c = [signer, department CA]; payload with the claims.
    let token = body["token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let header = b64_json(parts[0]);
    let payload = b64_json(parts[1]);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "licence+jwt");
    assert!(header["kid"].as_str().is_some());
    let x5c = header["x5c"].as_array().unwrap();
    assert_eq!(x5c.len(), 2);
    let ca_pem = app
        .get(&format!("/ca/{a}.pem"), None)
        .await
        .text()
        .await
        .unwrap();
    let (_, ca) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).unwrap();
    assert_eq!(
        STANDARD.decode(x5c[1].as_str().unwrap()).unwrap(),
        ca.contents
    );
    assert_eq!(payload["jti"], id.as_str());
    assert_eq!(payload["iss"], a.as_str());
    for claim in ["iat", "nbf", "exp"] {
        assert!(payload[claim].as_i64().is_some(), "{claim}");
    }
    assert_eq!(payload["licence"]["holder"]["code"], CITIZEN);
    assert_eq!(
        payload["licence"]["face"]["address"],
        "福州市鼓楼区五四路 1 号"
    );
    assert_eq!(
        URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(),
        64,
        "ES256 signatures are R ‖ S"
    );

    // Verification by token and by identifier.
    for req in [json!({"token": token}), json!({"identifier": id})] {
        let report = verify(&app, req).await;
        assert_eq!(report["signature_valid"], true);
        assert_eq!(report["chain_valid"], true);
        assert_eq!(report["status"], "valid");
        assert_eq!(report["identifier"], id.as_str());
        assert_eq!(report["issuer"]["code"], a.as_str());
        assert_eq!(report["log_index"], body["log_index"]);
    }
    // The JWKS publishes the signing key under the token's kid.
    let jwks: Value = app
        .get("/api/v1/public/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == header["kid"] && k["crv"] == "P-256"));

    // The public JSON and page are masked; the page carries its security headers.
    let public: Value = app
        .get(&format!("/api/v1/public/licences/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(public["status"], "valid");
    assert_eq!(public["holder"]["name"], "张*丰");
    assert_eq!(public["holder"]["code"], "1101**********002X");
    assert_eq!(public["licence_name"], "居住证");
    assert_eq!(public["issuer"]["name"], "福州市公安局");
    let page = app.get(&format!("/v/{id}"), None).await;
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(html.contains("有效") && html.contains("class=\"verdict valid\""));
    assert!(html.contains("张*丰") && !html.contains("张三丰") && !html.contains(CITIZEN));
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    // The public token is the SD-JWT without disclosures (privacy.rs checks it in detail).
    let sd_jwt = body["sd_jwt"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/public/licences/{id}/token"), None)
            .await
            .text()
            .await
            .unwrap(),
        format!("{}~", sd_jwt.split('~').next().unwrap())
    );

    // The issuance is in the log, without personal data in clear.
    let (_, auditor) = app.create_key("auditor", None).await;
    let export = app
        .get("/api/v1/log/export", Some(&auditor))
        .await
        .text()
        .await
        .unwrap();
    assert!(export.contains("licence.issued") && export.contains(&id));
    assert!(!export.contains(CITIZEN) && !export.contains("张三丰"));
}

async fn refuses_bad_licences(app: TestApp) {
    let (_, b, op_a, op_b, type_code) = setup(&app).await;
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = licence_body(&type_code);
        f(&mut v);
        v
    };
    cases.push((with(&|v| v["face"] = json!({})), "face.address"));
    cases.push((with(&|v| v["face"]["colour"] = json!("red")), "face.colour"));
    cases.push((
        with(&|v| v["face"]["address"] = json!(["x"])),
        "face.address",
    ));
    cases.push((
        with(&|v| v["holder"]["code"] = json!("110105194912310021")),
        "holder.code",
    ));
    cases.push((
        with(&|v| v["holder"]["code"] = json!("11010519491331002X")),
        "holder.code",
    ));
    cases.push((
        with(&|v| v["holder"]["code_type"] = json!("001")),
        "holder.code_type",
    ));
    cases.push((with(&|v| v["holder"]["name"] = json!("")), "holder.name"));
    cases.push((
        with(&|v| v["valid_from"] = json!("2026-13-01")),
        "valid_from",
    ));
    cases.push((
        with(&|v| {
            v["valid_from"] = json!("2026-05-01");
            v["valid_until"] = json!("2026-04-01");
        }),
        "valid_until",
    ));
    cases.push((with(&|v| v["area_code"] = json!("35")), "area_code"));
    cases.push((with(&|v| v["type_code"] = json!("nonsense")), "type_code"));
    cases.push((
        with(&|v| v["type_code"] = json!(format!("{b}999"))),
        "type_code",
    ));
    cases.push((
        with(&|v| v["previous_identifier"] = json!("1.2.3")),
        "previous_identifier",
    ));
    cases.push((with(&|v| v["holder"]["extra"] = json!(1)), "holder.extra"));
    cases.push((json!({"holder": {}}), "holder.name"));
    for (body, field) in cases {
        let resp = app.post_json("/api/v1/licences", Some(&op_a), &body).await;
        let problem = assert_problem(resp, INVALID).await;
        assert_eq!(problem["field"], field, "{body}");
    }
    // Another department may not issue A's types; admins and auditors issue nothing.
    assert_problem(
        app.post_json("/api/v1/licences", Some(&op_b), &licence_body(&type_code))
            .await,
        403,
    )
    .await;
    assert_problem(
        app.post_json(
            "/api/v1/licences",
            Some(&app.admin_token),
            &licence_body(&type_code),
        )
        .await,
        403,
    )
    .await;
    // Catalogue validation.
    for (body, field) in [
        (
            json!({"name": "x", "holder_kind": "robot", "fields": [{"key": "a", "label": "A"}]}),
            "holder_kind",
        ),
        (
            json!({"name": "x", "holder_kind": "person", "fields": []}),
            "fields",
        ),
        (
            json!({"name": "x", "holder_kind": "person", "fields": [{"key": "Bad Key", "label": "A"}]}),
            "fields[0].key",
        ),
        (
            json!({"name": "x", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}]}),
            "fields[1].key",
        ),
        (
            json!({"name": "", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}]}),
            "name",
        ),
        (
            json!({"name": "x", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}], "validity_days": 0}),
            "validity_days",
        ),
    ] {
        let problem = assert_problem(
            app.post_json("/api/v1/licence-types", Some(&op_a), &body)
                .await,
            INVALID,
        )
        .await;
        assert_eq!(problem["field"], field);
    }
    assert_problem(
        app.post_json(
            "/api/v1/licence-types",
            Some(&app.admin_token),
            &json!({"name": "x", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}]}),
        )
        .await,
        403,
    )
    .await;
    // Every operator reads the whole catalogue.
    let list: Value = app
        .get("/api/v1/licence-types", Some(&op_b))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Nothing was stored by the refused requests.
    let (_, auditor) = app.create_key("auditor", None).await;
    let found: Value = app
        .get(
            &format!("/api/v1/licences?holder_code={CITIZEN}&purpose=审计核查"),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(found["items"].as_array().unwrap().is_empty());
}

async fn post_status(
    app: &TestApp,
    token: &str,
    id: &str,
    action: &str,
    reason: Option<&str>,
) -> reqwest::Response {
    let body = match reason {
        Some(r) => json!({"reason": r}),
        None => json!({}),
    };
    app.post_json(
        &format!("/api/v1/licences/{id}/{action}"),
        Some(token),
        &body,
    )
    .await
}

async fn page_verdict(app: &TestApp, id: &str) -> String {
    app.get(&format!("/v/{id}"), None)
        .await
        .text()
        .await
        .unwrap()
}

async fn status_changes(app: TestApp) {
    let (_, _, op_a, op_b, type_code) = setup(&app).await;
    let id = issue(&app, &op_a, &licence_body(&type_code)).await["identifier"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_problem(
        post_status(&app, &op_b, &id, "suspend", Some("x")).await,
        403,
    )
    .await;
    assert_problem(
        post_status(&app, &op_a, &id, "suspend", None).await,
        INVALID,
    )
    .await;
    assert_problem(
        post_status(&app, &op_a, &id, "reinstate", Some("not suspended")).await,
        409,
    )
    .await;

    let resp = post_status(&app, &op_a, &id, "suspend", Some("核查中")).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "suspended");
    assert_eq!(body["status_reason"], "核查中");
    assert!(body["log_index"].as_u64().is_some());
    assert!(page_verdict(&app, &id).await.contains("已暂停"));
    assert_eq!(
        verify(&app, json!({"identifier": id})).await["status"],
        "suspended"
    );

    assert_eq!(
        post_status(&app, &op_a, &id, "reinstate", Some("核查完毕"))
            .await
            .status(),
        200
    );
    assert!(page_verdict(&app, &id)
        .await
        .contains("class=\"verdict valid\""));

    assert_eq!(
        post_status(&app, &op_a, &id, "revoke", Some("申请人注销"))
            .await
            .status(),
        200
    );
    let html = page_verdict(&app, &id).await;
    assert!(html.contains("已撤销") && !html.contains("class=\"verdict valid\""));
    assert_eq!(
        verify(&app, json!({"identifier": id})).await["status"],
        "revoked"
    );
    // Revocation is final.
    assert_problem(
        post_status(&app, &op_a, &id, "revoke", Some("again")).await,
        409,
    )
    .await;
    assert_problem(
        post_status(&app, &op_a, &id, "reinstate", Some("undo")).await,
        409,
    )
    .await;
    assert_problem(
        post_status(&app, &op_a, &id, "suspend", Some("undo")).await,
        409,
    )
    .await;
    // Unknown and malformed identifiers.
    let unknown = LicenceIdentifier::generate(
        &type_code,
        &type_code[..18],
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_problem(
        post_status(&app, &op_a, unknown.as_str(), "revoke", Some("x")).await,
        404,
    )
    .await;
    assert_problem(
        post_status(&app, &op_a, "1.2.156.nonsense", "revoke", Some("x")).await,
        404,
    )
    .await;

    // Each change is in the log.
    let (_, auditor) = app.create_key("auditor", None).await;
    let page: Value = app
        .get(
            &format!("/api/v1/log/search?subject={id}&limit=50"),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "licence.issued",
            "licence.suspended",
            "licence.reinstated",
            "licence.revoked"
        ]
    );
}

async fn expiry_is_derived_from_dates(app: TestApp) {
    let (_, _, op_a, _, type_code) = setup(&app).await;
    let mut body = licence_body(&type_code);
    body["valid_from"] = json!("2020-01-01");
    body["valid_until"] = json!("2020-12-31");
    let id = issue(&app, &op_a, &body).await["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let public: Value = app
        .get(&format!("/api/v1/public/licences/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(public["status"], "expired");
    assert!(page_verdict(&app, &id).await.contains("已过期"));
    assert_problem(
        post_status(&app, &op_a, &id, "suspend", Some("x")).await,
        409,
    )
    .await;
    // A long-term licence: no end date, no exp claim.
    let mut body = licence_body(&type_code);
    body["valid_until"] = Value::Null;
    let created = issue(&app, &op_a, &body).await;
    assert!(
        created["valid_until"].as_str().is_some(),
        "the type's validity applies when none is given"
    );
}

async fn sharing_needs_a_logged_purpose(app: TestApp) {
    let (a, b, op_a, op_b, type_code) = setup(&app).await;
    let id = issue(&app, &op_a, &licence_body(&type_code)).await["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    // The issuing department reads freely.
    assert_eq!(
        app.get(&format!("/api/v1/licences/{id}"), Some(&op_a))
            .await
            .status(),
        200
    );
    // Another department needs a purpose, and its read is logged.
    let problem = assert_problem(
        app.get(&format!("/api/v1/licences/{id}"), Some(&op_b))
            .await,
        422,
    )
    .await;
    assert_eq!(problem["field"], "purpose");
    let resp = app
        .get(
            &format!("/api/v1/licences/{id}?purpose=办理低保审核"),
            Some(&op_b),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["holder"]["code"], CITIZEN);
    let read_index = body["log_index"].as_u64().unwrap();
    // A holder's licences across departments, without the citizen bringing copies.
    let problem = assert_problem(
        app.get(
            &format!("/api/v1/licences?holder_code={CITIZEN}"),
            Some(&op_b),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem["field"], "purpose");
    assert_problem(
        app.get("/api/v1/licences?purpose=x", Some(&op_b)).await,
        INVALID,
    )
    .await;
    let list: Value = app
        .get(
            &format!("/api/v1/licences?holder_code={CITIZEN}&purpose=办理低保审核"),
            Some(&op_b),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["identifier"], id.as_str());
    // Admins do not read licences; auditors read with a purpose too (privacy.rs).
    assert_problem(
        app.get(&format!("/api/v1/licences/{id}"), Some(&app.admin_token))
            .await,
        403,
    )
    .await;
    let (_, auditor) = app.create_key("auditor", None).await;
    // The log names the reading department and its purpose; the holder code only hashed.
    let entries: Value = app
        .get(
            &format!(
                "/api/v1/log/entries?start={read_index}&end={}",
                read_index + 1
            ),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    let event = &entries["entries"][0]["event"];
    assert_eq!(event["type"], "licence.read");
    assert_eq!(event["department"], b.as_str());
    assert_eq!(event["data"]["purpose"], "办理低保审核");
    assert_eq!(event["data"]["issuer"], a.as_str());
    let queries: Value = app
        .get(
            "/api/v1/log/search?type=licence.holder_query",
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    let q = &queries["entries"][0]["event"];
    assert_eq!(q["department"], b.as_str());
    assert!(!q.to_string().contains(CITIZEN));
}

async fn tampered_and_foreign_tokens(app: TestApp) {
    let (dept_a, _, op_a, _, type_code) = setup(&app).await;
    let body = issue(&app, &op_a, &licence_body(&type_code)).await;
    let token = body["token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();

    // A changed payload: still a verification answer, with the signature invalid.
    let mut payload = b64_json(parts[1]);
    payload["licence"]["holder"]["name"] = json!("李四");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    let report = verify(&app, json!({"token": forged})).await;
    assert_eq!(report["signature_valid"], false);
    assert_eq!(report["token_matches_record"], false);

    // A token signed by a key whose certificate is not under our root.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Impostor");
    let cert = params.self_signed(&key).unwrap();
    let header = json!({"alg": "ES256", "typ": "licence+jwt", "kid": "x", "x5c": [STANDARD.encode(cert.der())]});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        parts[1]
    );
    let pkcs8 = key.serialize_der();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &pkcs8,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let sig = signer
        .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
        .unwrap();
    let foreign = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
    let report = verify(&app, json!({"token": foreign})).await;
    assert_eq!(report["signature_valid"], true);
    assert_eq!(report["chain_valid"], false);

    // Not a token at all, or a malformed request: 400 or 422.
    for bad in [
        json!({"token": "not-a-token"}),
        json!({"token": "a.b.c"}),
        json!({}),
        json!({"token": token, "identifier": "x"}),
    ] {
        assert_problem(
            app.post_json("/api/v1/verify/licence", None, &bad).await,
            INVALID,
        )
        .await;
    }
    let problem = assert_problem(
        app.post_json(
            "/api/v1/verify/licence",
            None,
            &json!({"identifier": "1.2.156.3005.2.x"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem["field"], "identifier");
    // The token is good while its department's CA is; once the admin revokes that CA, the
    // licence signer under it no longer vouches for it (the token is otherwise unchanged).
    assert_eq!(
        verify(&app, json!({"token": token})).await["chain_valid"],
        true
    );
    let resp = app
        .post_json(
            &format!("/api/v1/departments/{dept_a}/ca/revoke"),
            Some(&app.admin_token),
            &json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let report = verify(&app, json!({"token": token})).await;
    assert_eq!(report["signature_valid"], true);
    assert_eq!(report["chain_valid"], false, "{report}");
    // The revocation takes effect at once: the cached licence signer is gone, and nothing new
    // is issued under the revoked CA.
    let problem = assert_problem(
        app.post_json("/api/v1/licences", Some(&op_a), &licence_body(&type_code))
            .await,
        409,
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("revoked"),
        "{problem}"
    );
    // A well-formed identifier that does not exist.
    let unknown = LicenceIdentifier::generate(
        &type_code,
        &type_code[..18],
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(
        verify(&app, json!({"identifier": unknown.as_str()})).await["status"],
        "not_found"
    );
    // Unknown or malformed identifiers get the 404 page and 404 JSON.
    for id in [unknown.as_str(), "garbage", "1.2.156.3005.2.<b>"] {
        let resp = app.get(&format!("/v/{id}"), None).await;
        assert_eq!(resp.status(), 404);
        assert!(resp.text().await.unwrap().contains("未找到"));
        assert_problem(
            app.get(&format!("/api/v1/public/licences/{id}"), None)
                .await,
            404,
        )
        .await;
    }
}

async fn qr_codes(app: TestApp) {
    let (_, _, op_a, op_b, type_code) = setup(&app).await;
    let id = issue(&app, &op_a, &licence_body(&type_code)).await["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let svg = app
        .get(&format!("/api/v1/licences/{id}/qr.svg"), Some(&op_a))
        .await;
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));
    let png = app
        .get(&format!("/api/v1/licences/{id}/qr.png"), Some(&op_a))
        .await;
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    assert_problem(
        app.get(&format!("/api/v1/licences/{id}/qr.png"), Some(&op_b))
            .await,
        403,
    )
    .await;
    assert_problem(
        app.get(&format!("/api/v1/licences/{id}/qr.png"), None)
            .await,
        401,
    )
    .await;
}

/// Tokens are stored without their protected header (the same for every licence a signer signs,
/// kept once in `token_headers`) and read back byte for byte as issued; a row stored whole
/// before that (no header digest) reads back as it is. Identifiers of later licences sort later.
async fn tokens_are_stored_once_per_header_and_read_back_whole(app: TestApp) {
    let (_, _, op, _, type_code) = setup(&app).await;
    let first = issue(&app, &op, &licence_body(&type_code)).await;
    let second = issue(&app, &op, &licence_body(&type_code)).await;
    let (a, b) = (
        first["identifier"].as_str().unwrap(),
        second["identifier"].as_str().unwrap(),
    );
    let serial = |id: &str| LicenceIdentifier::parse(id).unwrap().serial().to_owned();
    assert!(serial(b)[..8] >= serial(a)[..8], "{a} then {b}");
    for body in [&first, &second] {
        let id = body["identifier"].as_str().unwrap();
        let record = app.ctx.store.licence(id).await.unwrap().unwrap();
        assert_eq!(record.token, body["token"].as_str().unwrap());
        assert_eq!(record.sd_jwt.as_deref(), body["sd_jwt"].as_str());
        // And through the API, as the operator reads it.
        let read: Value = app
            .get(&format!("/api/v1/licences/{id}"), Some(&op))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["token"], body["token"]);
        assert_eq!(read["sd_jwt"], body["sd_jwt"]);
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    use sqlx::Row;
    // Two headers (the JWS's and the SD-JWT's typ differ), each once.
    let headers: i64 = sqlx::query("SELECT COUNT(*) FROM token_headers")
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(headers, 2);
    let row = sqlx::query("SELECT token, sd_jwt FROM licences WHERE identifier = $1")
        .bind(a)
        .fetch_one(&pool)
        .await
        .unwrap();
    let stored: String = row.try_get("token").unwrap();
    let token = first["token"].as_str().unwrap();
    assert_eq!(stored, token[token.find('.').unwrap()..]);
    // A row as stored before: whole tokens, no digests.
    let sd_jwt = first["sd_jwt"].as_str().unwrap();
    sqlx::query(
        "UPDATE licences SET token = $1, sd_jwt = $2, token_header = NULL, sd_jwt_header = NULL \
         WHERE identifier = $3",
    )
    .bind(token)
    .bind(sd_jwt)
    .bind(a)
    .execute(&pool)
    .await
    .unwrap();
    let record = app.ctx.store.licence(a).await.unwrap().unwrap();
    assert_eq!(record.token, token);
    assert_eq!(record.sd_jwt.as_deref(), Some(sd_jwt));
    // A digest whose header is not stored is an error, not a token without its header.
    sqlx::query("UPDATE licences SET token_header = $1 WHERE identifier = $2")
        .bind(vec![0u8; 32])
        .bind(b)
        .execute(&pool)
        .await
        .unwrap();
    assert!(app.ctx.store.licence(b).await.is_err());
    pool.close().await;
}

dual_tests!(
    tokens_are_stored_once_per_header_and_read_back_whole,
    issues_a_verifiable_licence,
    refuses_bad_licences,
    status_changes,
    expiry_is_derived_from_dates,
    sharing_needs_a_logged_purpose,
    tampered_and_foreign_tokens,
    qr_codes
);

/// The public read path keeps licences in memory (issue 18): a status change shows on the next
/// request on the instance that made it, and within a second on another instance of the same
/// PostgreSQL database (which learns it from the log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_sees_status_changes_within_a_second() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Db::Postgres).await else {
        return;
    };
    let (dept_a, _, op_a, _, type_code) = setup(&app).await;
    let issued = issue(&app, &op_a, &licence_body(&type_code)).await;
    let id = issued["identifier"].as_str().unwrap().to_owned();
    let other_dir = tempfile::tempdir().unwrap();
    let s = crate::helpers::settings(
        &other_dir,
        &app.database_url,
        &app.master_key,
        &app.admin_token,
    );
    let (other, _, other_handle) = crate::helpers::start(s).await.unwrap();
    let verdict = |address: String, id: String| async move {
        let body: Value = reqwest::get(format!("{address}/api/v1/public/licences/{id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["status"].as_str().unwrap().to_owned()
    };
    // Both instances have it in memory now.
    for _ in 0..2 {
        assert_eq!(verdict(app.address.clone(), id.clone()).await, "valid");
        assert_eq!(verdict(other.clone(), id.clone()).await, "valid");
        assert!(page_verdict(&app, &id).await.contains("有效"));
    }
    let resp = post_status(&app, &op_a, &id, "revoke", Some("测试")).await;
    assert_eq!(resp.status(), 200);
    // The next request on the same instance, and within a second on the other.
    assert_eq!(verdict(app.address.clone(), id.clone()).await, "revoked");
    assert!(page_verdict(&app, &id).await.contains("已撤销"));
    let start = std::time::Instant::now();
    loop {
        if verdict(other.clone(), id.clone()).await == "revoked" {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "the other instance still says valid after a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The same for an API key: both instances know it; revoked on one, the other refuses it
    // within a second.
    let (key_id, key) = app
        .create_key("operator", Some(&crate::helpers::credit_code(10)))
        .await;
    let list = |address: String, key: String| async move {
        reqwest::Client::new()
            .get(format!("{address}/api/v1/licence-types"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(list(other.clone(), key.clone()).await, 200);
    assert_eq!(list(app.address.clone(), key.clone()).await, 200);
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/api-keys/{key_id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(list(app.address.clone(), key.clone()).await, 401);
    let start = std::time::Instant::now();
    while list(other.clone(), key.clone()).await != 401 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "the other instance still accepts a revoked key after a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // And for a seal: both instances have stamped with it (it is in their memory); revoked on
    // one, it stamps on neither: at once on that one, within a second on the other.
    let seal: Value = app
        .client
        .post(app.url("/api/v1/seals"))
        .bearer_auth(&op_a)
        .json(&serde_json::json!({"name": "集群测试章", "kind": "official"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seal = seal["id"].as_str().unwrap().to_owned();
    let stamp = |address: String, seal: String, token: String| async move {
        reqwest::Client::new()
            .post(format!("{address}/api/v1/seals/{seal}/stamp"))
            .bearer_auth(token)
            .header("content-type", "application/pdf")
            .body(crate::stamp::sample_pdf(1))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        stamp(app.address.clone(), seal.clone(), op_a.clone()).await,
        200
    );
    assert_eq!(stamp(other.clone(), seal.clone(), op_a.clone()).await, 200);
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/seals/{seal}/revoke")))
        .bearer_auth(&op_a)
        .json(&serde_json::json!({"reason": "keyCompromise"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        stamp(app.address.clone(), seal.clone(), op_a.clone()).await,
        409
    );
    let start = std::time::Instant::now();
    while stamp(other.clone(), seal.clone(), op_a.clone()).await != 409 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "the other instance still stamps with a revoked seal after a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // And for the department's CA: both instances have issued under it (their licence signer
    // is in memory); revoked on one, neither issues: at once there, within a second on the
    // other.
    let issue_on = |address: String| {
        let (token, body) = (op_a.clone(), licence_body(&type_code));
        async move {
            reqwest::Client::new()
                .post(format!("{address}/api/v1/licences"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(issue_on(app.address.clone()).await, 201);
    assert_eq!(issue_on(other.clone()).await, 201);
    let resp = app
        .post_json(
            &format!("/api/v1/departments/{dept_a}/ca/revoke"),
            Some(&app.admin_token),
            &json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(issue_on(app.address.clone()).await, 409);
    let start = std::time::Instant::now();
    while issue_on(other.clone()).await != 409 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "the other instance still issues under a revoked CA after a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    other_handle.stop(true).await;
}
