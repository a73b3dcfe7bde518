//! Citizens' data and least privilege (issue 13): public answers without personal data,
//! SD-JWT selective disclosure, auditors scoped to their department and logged, and clients
//! behind proxies (forwarding headers only from trusted proxies, IPv6 per /64, failed
//! authentication throttled per client).

use std::net::IpAddr;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::dual_tests;
use crate::helpers::{assert_problem, credit_code, spawn_app_custom, Db, TestApp};

const CITIZEN: &str = "35010219800101002X";
const NAME: &str = "欧阳娜娜";
const FACE: [(&str, &str); 3] = [
    ("address", "福州市鼓楼区五四路 158 号"),
    ("employer", "福州软件园九号楼"),
    ("phone", "13905910001"),
];

/// Department A with an operator and a person licence type of three face fields; department B
/// with an operator. Returns (a, b, op_a, op_b, type_code).
async fn setup(app: &TestApp) -> (String, String, String, String, String) {
    let a = credit_code(31);
    let b = credit_code(32);
    app.create_department(&a, "福州市人力资源和社会保障局")
        .await;
    app.create_department(&b, "福州市医疗保障局").await;
    let (_, op_a) = app.create_key("operator", Some(&a)).await;
    let (_, op_b) = app.create_key("operator", Some(&b)).await;
    let t: Value = app
        .post_json(
            "/api/v1/licence-types",
            Some(&op_a),
            &json!({
                "name": "就业创业证",
                "holder_kind": "person",
                "fields": FACE.iter().map(|(k, _)| json!({"key": k, "label": k})).collect::<Vec<_>>(),
            }),
        )
        .await
        .json()
        .await
        .unwrap();
    (
        a,
        b,
        op_a,
        op_b,
        t["type_code"].as_str().unwrap().to_owned(),
    )
}

async fn issue(app: &TestApp, op: &str, type_code: &str) -> Value {
    let face: serde_json::Map<String, Value> = FACE
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    let resp = app
        .post_json(
            "/api/v1/licences",
            Some(op),
            &json!({
                "type_code": type_code,
                "holder": {"name": NAME, "code_type": "111", "code": CITIZEN},
                "face": face,
            }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

/// `text` and every base64url part of it decoded (tokens hide their claims that way).
fn readable(text: &str) -> String {
    let mut out = text.to_owned();
    for part in text.split(['.', '~', '"', '/', '?', '=', '&']) {
        if let Ok(bytes) = URL_SAFE_NO_PAD.decode(part.trim()) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

fn assert_no_personal_data(what: &str, text: &str) {
    let all = readable(text);
    assert!(!all.contains(CITIZEN), "{what} holds the citizen ID");
    assert!(!all.contains(NAME), "{what} holds the full name");
    for (k, v) in FACE {
        assert!(!all.contains(v), "{what} holds the face field {k}");
    }
}

async fn verify(app: &TestApp, token: &str) -> Value {
    let resp = app
        .post_json("/api/v1/verify/licence", None, &json!({ "token": token }))
        .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn public_answers_carry_no_personal_data(app: TestApp) {
    let (_, _, op_a, op_b, type_code) = setup(&app).await;
    let licence = issue(&app, &op_a, &type_code).await;
    let id = licence["identifier"].as_str().unwrap();
    // The public JSON, the public token and the citizen's page, searched byte for byte.
    let json = app
        .get(&format!("/api/v1/public/licences/{id}"), None)
        .await
        .text()
        .await
        .unwrap();
    assert_no_personal_data("the public JSON", &json);
    let status: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["holder"]["name"], "欧**娜");
    let resp = app
        .get(&format!("/api/v1/public/licences/{id}/token"), None)
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/sd-jwt");
    let public_token = resp.text().await.unwrap();
    assert_no_personal_data("the public token", &public_token);
    assert!(public_token.ends_with('~') && public_token.matches('~').count() == 1);
    let page = app
        .get(&format!("/v/{id}"), None)
        .await
        .text()
        .await
        .unwrap();
    assert_no_personal_data("the citizen's page", &page);
    assert!(page.contains("欧**娜"));
    // The public token verifies, and discloses nothing.
    let report = verify(&app, &public_token).await;
    assert_eq!(report["format"], "sd-jwt");
    assert_eq!(report["signature_valid"], true, "{report}");
    assert_eq!(report["chain_valid"], true, "{report}");
    assert_eq!(report["disclosures_valid"], true);
    assert_eq!(report["token_matches_record"], true);
    assert_eq!(report["disclosed"], json!({}));
    assert_no_personal_data("the verification of the public token", &report.to_string());
    // Verification by identifier says nothing personal either.
    let resp = app
        .post_json("/api/v1/verify/licence", None, &json!({ "identifier": id }))
        .await;
    assert_no_personal_data("verification by identifier", &resp.text().await.unwrap());

    // The full token and the SD-JWT go to the issuing department's operators only: another
    // department reading with a purpose sees the record, not the tokens.
    let own: Value = app
        .get(&format!("/api/v1/licences/{id}"), Some(&op_a))
        .await
        .json()
        .await
        .unwrap();
    assert!(own["token"].as_str().is_some() && own["sd_jwt"].as_str().is_some());
    let other: Value = app
        .get(
            &format!("/api/v1/licences/{id}?purpose=医保待遇核定"),
            Some(&op_b),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other["holder"]["code"], CITIZEN);
    assert!(other.get("token").is_none() && other.get("sd_jwt").is_none());
}

async fn selective_disclosure(app: TestApp) {
    let (_, _, op_a, op_b, type_code) = setup(&app).await;
    let licence = issue(&app, &op_a, &type_code).await;
    let id = licence["identifier"].as_str().unwrap();
    let sd_jwt = licence["sd_jwt"].as_str().unwrap();
    // Five personal claims: name, code and three face fields, each a disclosure.
    let pieces: Vec<&str> = sd_jwt.split('~').collect();
    assert_eq!(
        pieces.len(),
        1 + 5 + 1,
        "JWT, five disclosures, empty key binding"
    );
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(pieces[0].split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "licence+sd-jwt");
    // The holder's full copy verifies with all five.
    let report = verify(&app, sd_jwt).await;
    assert_eq!(
        report["disclosed"].as_object().unwrap().len(),
        5,
        "{report}"
    );
    assert_eq!(report["disclosed"]["holder.code"], CITIZEN);

    // The issuing department presents two of the five for the holder.
    let resp = app
        .post_json(
            &format!("/api/v1/licences/{id}/presentations"),
            Some(&op_a),
            &json!({"disclose": ["holder.name", "face.address"]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let presentation = resp.json::<Value>().await.unwrap()["presentation"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = readable(&presentation);
    assert!(shown.contains(NAME) && shown.contains(FACE[0].1));
    assert!(!shown.contains(CITIZEN) && !shown.contains(FACE[1].1) && !shown.contains(FACE[2].1));
    let report = verify(&app, &presentation).await;
    assert_eq!(report["signature_valid"], true);
    assert_eq!(report["chain_valid"], true);
    assert_eq!(report["disclosures_valid"], true);
    assert_eq!(report["status"], "valid");
    assert_eq!(
        report["disclosed"],
        json!({"holder.name": NAME, "face.address": FACE[0].1}),
        "exactly the two presented claims"
    );
    assert!(!report.to_string().contains(CITIZEN));

    // The holder can do the same without the department: drop disclosures.
    let holder_made = format!("{}~{}~", pieces[0], pieces[5]);
    let report = verify(&app, &holder_made).await;
    assert_eq!(report["disclosures_valid"], true);
    assert_eq!(report["disclosed"].as_object().unwrap().len(), 1);

    // A tampered disclosure: same salt and name, another value.
    let original: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(pieces[1]).unwrap()).unwrap();
    let mut altered = original.clone();
    altered[2] = Value::from(if original[1] == "code" {
        "110105194912310011"
    } else {
        "李四"
    });
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&altered).unwrap());
    for bad in [
        format!("{}~{forged}~", pieces[0]),
        format!("{}~{}~{forged}~", pieces[0], pieces[2]),
    ] {
        let report = verify(&app, &bad).await;
        assert_eq!(report["signature_valid"], true);
        assert_eq!(report["disclosures_valid"], false, "{report}");
        assert!(
            report.get("disclosed").is_none(),
            "nothing is disclosed from a forgery"
        );
        assert!(report["problem"].as_str().unwrap().contains("digest"));
    }
    // A disclosure of another licence of the same holder does not belong here.
    let second = issue(&app, &op_a, &type_code).await;
    let other_piece = second["sd_jwt"]
        .as_str()
        .unwrap()
        .split('~')
        .nth(1)
        .unwrap()
        .to_owned();
    let report = verify(&app, &format!("{}~{other_piece}~", pieces[0])).await;
    assert_eq!(report["disclosures_valid"], false);
    // A disclosure given twice, and a key-binding JWT licences cannot have.
    let report = verify(&app, &format!("{}~{}~{}~", pieces[0], pieces[1], pieces[1])).await;
    assert_eq!(report["disclosures_valid"], false);
    assert_problem(
        app.post_json(
            "/api/v1/verify/licence",
            None,
            &json!({"token": format!("{}~{}~a.b.c", pieces[0], pieces[1])}),
        )
        .await,
        422,
    )
    .await;
    // A valid disclosure under an altered signature is not shown.
    let mut jwt: Vec<String> = pieces[0].split('.').map(str::to_owned).collect();
    let mut sig = URL_SAFE_NO_PAD.decode(&jwt[2]).unwrap();
    sig[10] ^= 1;
    jwt[2] = URL_SAFE_NO_PAD.encode(sig);
    let report = verify(&app, &format!("{}~{}~", jwt.join("."), pieces[1])).await;
    assert_eq!(report["signature_valid"], false);
    assert!(report.get("disclosed").is_none());
    // The full JWS is not an SD-JWT header: its typ is refused in SD-JWT form.
    let full = licence["token"].as_str().unwrap();
    let report = verify(&app, &format!("{full}~")).await;
    assert_eq!(report["signature_valid"], false);

    // Presentations: unknown claims are refused, other departments may not make them.
    let problem = assert_problem(
        app.post_json(
            &format!("/api/v1/licences/{id}/presentations"),
            Some(&op_a),
            &json!({"disclose": ["holder.name", "face.salary"]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem["field"], "disclose[1]");
    assert_problem(
        app.post_json(
            &format!("/api/v1/licences/{id}/presentations"),
            Some(&op_b),
            &json!({"disclose": ["holder.name"]}),
        )
        .await,
        403,
    )
    .await;
}

async fn auditors_are_scoped_and_logged(app: TestApp) {
    let (a, b, op_a, _, type_code) = setup(&app).await;
    let licence = issue(&app, &op_a, &type_code).await;
    let id = licence["identifier"].as_str().unwrap();
    let (auditor_a_id, auditor_a) = app.create_key("auditor", Some(&a)).await;
    let (_, auditor_b) = app.create_key("auditor", Some(&b)).await;
    let (_, auditor_all) = app.create_key("auditor", None).await;
    // An auditor bound to B may not read A's licence, with or without a purpose.
    for path in [
        format!("/api/v1/licences/{id}"),
        format!("/api/v1/licences/{id}?purpose=年度审计"),
    ] {
        assert_problem(app.get(&path, Some(&auditor_b)).await, 403).await;
    }
    // By holder, B's auditor sees none of A's licences (and the query is logged).
    let found: Value = app
        .get(
            &format!("/api/v1/licences?holder_code={CITIZEN}&purpose=年度审计"),
            Some(&auditor_b),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(found["items"].as_array().unwrap().is_empty());
    assert!(found["log_index"].as_u64().is_some());
    // Every auditor read needs a purpose.
    for key in [&auditor_a, &auditor_all] {
        let problem = assert_problem(
            app.get(&format!("/api/v1/licences/{id}"), Some(key)).await,
            422,
        )
        .await;
        assert_eq!(problem["field"], "purpose");
        let problem = assert_problem(
            app.get(
                &format!("/api/v1/licences?holder_code={CITIZEN}"),
                Some(key),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(problem["field"], "purpose");
    }
    // A's auditor reads with a purpose; the read is in the log with the purpose and the role.
    let resp = app
        .get(
            &format!("/api/v1/licences/{id}?purpose=投诉核查 2026-117"),
            Some(&auditor_a),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["holder"]["name"], NAME);
    assert!(body.get("token").is_none());
    let index = body["log_index"].as_u64().unwrap();
    let entries: Value = app
        .get(
            &format!("/api/v1/log/entries?start={index}&end={}", index + 1),
            Some(&auditor_all),
        )
        .await
        .json()
        .await
        .unwrap();
    let event = &entries["entries"][0]["event"];
    assert_eq!(event["type"], "licence.read");
    assert_eq!(event["subject"], id);
    assert_eq!(event["actor"], auditor_a_id.as_str());
    assert_eq!(event["department"], a.as_str());
    assert_eq!(event["data"]["purpose"], "投诉核查 2026-117");
    assert_eq!(event["data"]["role"], "auditor");
    // A purpose given is checked even where none is needed; a department filter must be a
    // credit code.
    assert_problem(
        app.get(&format!("/api/v1/licences/{id}?purpose=%07"), Some(&op_a))
            .await,
        422,
    )
    .await;
    assert_problem(
        app.get("/api/v1/log/search?department=", Some(&auditor_all))
            .await,
        422,
    )
    .await;
    // The unbound auditor reads any department's, logged without a department.
    let resp = app
        .get(
            &format!("/api/v1/licences/{id}?purpose=专项检查"),
            Some(&auditor_all),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let index = resp.json::<Value>().await.unwrap()["log_index"]
        .as_u64()
        .unwrap();
    let entries: Value = app
        .get(
            &format!("/api/v1/log/entries?start={index}&end={}", index + 1),
            Some(&auditor_all),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(entries["entries"][0]["event"]["department"], Value::Null);
    assert_eq!(
        entries["entries"][0]["event"]["data"]["purpose"],
        "专项检查"
    );
}

dual_tests!(
    public_answers_carry_no_personal_data,
    selective_disclosure,
    auditors_are_scoped_and_logged
);

/// A client bound to a loopback address of its own (Linux answers all of 127/8).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn status(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.unwrap().status().as_u16()
}

async fn proxies_and_throttling(db: Db) {
    let Some(app) = spawn_app_custom(db, Arc::new(trustd::clock::SystemClock), |s| {
        s.trusted_proxies = "127.0.0.2/32".parse().unwrap();
        s.public_rate = 1;
        s.public_burst = 2;
        s.auth_failures_per_minute = 10;
    })
    .await
    else {
        return;
    };
    let direct = client_from("127.0.0.1");
    let proxy = client_from("127.0.0.2");
    let guesser = client_from("127.0.0.3");
    let jwks = app.url("/api/v1/public/jwks.json");

    // A spoofed X-Forwarded-For from an address that is not a trusted proxy is ignored: the
    // limit applies to the connection's address whatever the header says.
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(
            status(
                direct
                    .get(&jwks)
                    .header("X-Forwarded-For", format!("198.51.100.{i}")),
            )
            .await,
        );
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    // The trusted proxy's header is believed: each client behind it has its own bucket.
    for client in ["203.0.113.1", "203.0.113.2"] {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(status(proxy.get(&jwks).header("X-Forwarded-For", client)).await);
        }
        assert_eq!(got, [200, 200, 429], "{client} behind the proxy");
    }
    // A client's own entry on the left of the proxy's is not believed.
    assert_eq!(
        status(
            proxy
                .get(&jwks)
                .header("X-Forwarded-For", "192.0.2.77, 203.0.113.1")
        )
        .await,
        429
    );
    // Forwarded is not the header this proxy writes: ignored, the proxy itself is limited.
    for _ in 0..2 {
        status(proxy.get(&jwks).header("Forwarded", "for=192.0.2.200")).await;
    }
    assert_eq!(
        status(proxy.get(&jwks).header("Forwarded", "for=192.0.2.201")).await,
        429
    );
    // IPv6: one /64 is one client.
    let v6 = |addr: &'static str| proxy.get(&jwks).header("X-Forwarded-For", addr);
    assert_eq!(status(v6("2001:db8:0:1::1")).await, 200);
    assert_eq!(status(v6("2001:db8:0:1::2")).await, 200);
    assert_eq!(status(v6("2001:db8:0:1:ffff::9")).await, 429, "same /64");
    assert_eq!(status(v6("2001:db8:0:2::1")).await, 200, "another /64");

    // 30 wrong keys from one address: the first 10 are answered 401, then 429 with Retry-After,
    // and even the right key is refused from there for the minute.
    let departments = app.url("/api/v1/departments");
    let mut got = Vec::new();
    for i in 0..30 {
        let resp = guesser
            .get(&departments)
            .bearer_auth(format!("tdk_guess_{i:04}"))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            let retry: u64 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry));
        }
        got.push(resp.status().as_u16());
    }
    assert_eq!(got[..10], [401; 10]);
    assert_eq!(got[10..], [429; 20]);
    assert_eq!(
        status(guesser.get(&departments).bearer_auth(&app.admin_token)).await,
        429
    );
    // Requests without a key (public pages) are not affected by the failures.
    assert_eq!(status(guesser.get(app.url("/healthz"))).await, 200);
    // Another address still authenticates.
    assert_eq!(
        status(direct.get(&departments).bearer_auth(&app.admin_token)).await,
        200
    );
    // And so does another client behind the trusted proxy, while a client behind it that
    // guesses is throttled on its own.
    for i in 0..11 {
        status(
            proxy
                .get(&departments)
                .header("X-Forwarded-For", "203.0.113.66")
                .bearer_auth(format!("tdk_guess_{i:04}")),
        )
        .await;
    }
    assert_eq!(
        status(
            proxy
                .get(&departments)
                .header("X-Forwarded-For", "203.0.113.66")
                .bearer_auth(&app.admin_token)
        )
        .await,
        429
    );
    assert_eq!(
        status(
            proxy
                .get(&departments)
                .header("X-Forwarded-For", "203.0.113.67")
                .bearer_auth(&app.admin_token)
        )
        .await,
        200
    );
}

mod proxies_and_throttling {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::proxies_and_throttling(super::Db::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::proxies_and_throttling(super::Db::Postgres).await;
    }
}
