//! Issue 17, operations: gauges and `/readyz` following the (injected) clock towards a CA's
//! end; near that end one OCSP responder and one licence signer, not one per request; secrets
//! from files; the request id passed on; counters per department.

use std::sync::Arc;

use serde_json::{json, Value};
use time::OffsetDateTime;
use trustd::clock::FixedClock;
use trustd::config::Secret;
use trustd::store::CertKind;

use crate::helpers::{assert_problem, credit_code, settings, start, TestApp};

/// The value of the first metric line starting with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

async fn count(app: &TestApp, kind: CertKind, code: &str) -> usize {
    app.ctx
        .store
        .certificates_of_kind(kind, Some(code))
        .await
        .unwrap()
        .len()
}

async fn near_a_ca_end(app: TestApp, clock: Arc<FixedClock>) {
    let code = credit_code(17);
    app.create_department(&code, "运维局").await;
    let (_, op) = app.create_key("operator", Some(&code)).await;
    let (_, monitor) = app.create_key("monitor", None).await;
    let seal: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op),
            &json!({"name": "运维局公章", "kind": "official"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(seal["id"].is_string());
    let t: Value = app
        .post_json(
            "/api/v1/licence-types",
            Some(&op),
            &json!({"name": "证", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let ca = app.ctx.pki.department_ca(&code).await.unwrap();
    let seal_cert = app
        .ctx
        .store
        .certificates_of_kind(CertKind::Seal, Some(&code))
        .await
        .unwrap()
        .pop()
        .unwrap();

    // Now: ready, and the department CA's gauge says about ten years. (CRLs are signed when
    // first asked for.)
    assert_eq!(app.get("/crl/root.crl", None).await.status(), 200);
    app.wait_for_checkpoint().await;
    assert_eq!(app.get("/readyz", None).await.status(), 200);
    let text = app
        .get("/metrics", Some(&monitor))
        .await
        .text()
        .await
        .unwrap();
    let gauge = format!(
        "trustd_certificate_expiry_seconds{{ca=\"{code}\",kind=\"department-ca\",serial=\"{}\"}}",
        ca.serial
    );
    let ten_years = metric(&text, &gauge).unwrap();
    assert!(ten_years > 9.0 * 365.0 * 86_400.0, "{ten_years}");
    assert!(metric(&text, "trustd_crl_next_update_seconds{ca=\"root\"}").is_some());
    assert_eq!(
        metric(&text, "trustd_log_integration_lag_entries"),
        Some(0.0)
    );

    // A day before the CA's end: the gauge has dropped to a day.
    clock.set(OffsetDateTime::from_unix_timestamp(ca.not_after - 86_400).unwrap());
    let text = app
        .get("/metrics", Some(&monitor))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(metric(&text, &gauge), Some(86_400.0));
    // Three OCSP requests make one new responder certificate, not three.
    let responders = count(&app, CertKind::Ocsp, &code).await;
    let request = trustd::pki::ocsp::request_for(&seal_cert.der, &ca.der).unwrap();
    for _ in 0..3 {
        let resp = app
            .client
            .post(app.url("/ocsp"))
            .header("content-type", "application/ocsp-request")
            .body(request.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        app.ctx.pki.forget_ocsp_answers();
    }
    assert_eq!(count(&app, CertKind::Ocsp, &code).await, responders + 1);
    // Two licences (the signer cache dropped between them) make one new signer, not two.
    let signers = count(&app, CertKind::LicenceSigner, &code).await;
    let licence = json!({"type_code": t["type_code"], "holder": {"name": "赵六", "code_type": "111", "code": "11010519491231002X"}});
    for _ in 0..2 {
        let resp = app.post_json("/api/v1/licences", Some(&op), &licence).await;
        assert_eq!(resp.status(), 201);
        app.ctx.licence_signers.forget(&code);
    }
    assert_eq!(
        count(&app, CertKind::LicenceSigner, &code).await,
        signers + 1
    );
    let text = app
        .get("/metrics", Some(&monitor))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(
            &text,
            &format!("trustd_licences_issued_total{{department=\"{code}\"}}")
        ),
        Some(2.0)
    );

    // Twelve hours before the end a CA certificate is about to end: not ready.
    clock.set(OffsetDateTime::from_unix_timestamp(ca.not_after - 43_200).unwrap());
    app.wait_for_checkpoint().await;
    let body = assert_problem(app.get("/readyz", None).await, 503).await;
    assert!(
        body["detail"].as_str().unwrap().contains("certificate"),
        "{body}"
    );
}

async fn counts_and_request_ids(app: TestApp) {
    let (_, monitor) = app.create_key("monitor", None).await;
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "nginx-7f3a.2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "nginx-7f3a.2");
    for hostile in ["a b", "x;drop", &"y".repeat(129)] {
        let resp = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", hostile)
            .send()
            .await
            .unwrap();
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(id != hostile && id.len() == 16, "{id}");
    }
    let before = app
        .get("/metrics", Some(&monitor))
        .await
        .text()
        .await
        .unwrap();
    let before = metric(&before, "trustd_auth_failures_total").unwrap();
    assert_eq!(
        app.get("/api/v1/departments", Some("not-a-key"))
            .await
            .status(),
        401
    );
    let after = app
        .get("/metrics", Some(&monitor))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(&after, "trustd_auth_failures_total"),
        Some(before + 1.0)
    );
}

/// `TRUSTD_MASTER_KEY_FILE` and `TRUSTD_ADMIN_TOKEN_FILE` (what systemd's `LoadCredential=`
/// gives); both ways at once is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("trustd.db").display());
    let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [3u8; 32]);
    let token = format!("file-admin-token-{}", crate::helpers::random_hex(16));
    std::fs::write(dir.path().join("mk"), format!("{key}\n")).unwrap();
    std::fs::write(dir.path().join("tok"), format!("{token}\n")).unwrap();
    let mut s = settings(&dir, &url, "unused", "unused");
    s.master_key = None;
    s.admin_token = Some(Secret::new("also-set-directly-0123456789abcdef"));
    s.master_key_file = Some(dir.path().join("mk"));
    s.admin_token_file = Some(dir.path().join("tok"));
    let err = start(s.clone()).await.unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
    s.admin_token = None;
    let (address, _, handle) = start(s).await.unwrap();
    let status = reqwest::Client::new()
        .get(format!("{address}/api/v1/departments"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    handle.stop(true).await;
}

async fn tsas(app: &TestApp, kind: CertKind) -> Vec<trustd::store::CertificateRecord> {
    app.ctx
        .store
        .certificates_of_kind(kind, None)
        .await
        .unwrap()
}

/// The TSA certificates are renewed while the service runs, once, and the new unit signs the
/// next tokens (also of the national hierarchy); a PDF stamped after it verifies.
async fn tsa_renewed_while_running(app: TestApp, clock: Arc<FixedClock>) {
    let before = tsas(&app, CertKind::Tsa).await;
    let before_sm2 = tsas(&app, CertKind::Sm2Tsa).await.len();
    let old = app.ctx.tsa.get().certificate().to_vec();
    // Nothing is due now.
    assert_eq!(trustd::startup::renew_tsas(&app.ctx).await.unwrap(), 0);
    // Ten days before the TSA certificate ends: both units renewed, once.
    let end = before.last().unwrap().not_after;
    clock.set(OffsetDateTime::from_unix_timestamp(end - 10 * 86_400).unwrap());
    assert_eq!(trustd::startup::renew_tsas(&app.ctx).await.unwrap(), 2);
    assert_eq!(trustd::startup::renew_tsas(&app.ctx).await.unwrap(), 0);
    let after = tsas(&app, CertKind::Tsa).await;
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(tsas(&app, CertKind::Sm2Tsa).await.len(), before_sm2 + 1);
    let new = app.ctx.tsa.get().certificate().to_vec();
    assert_ne!(new, old);
    assert_eq!(new, after.last().unwrap().der);
    // The new unit answers RFC 3161 requests.
    let digest = ring::digest::digest(&ring::digest::SHA256, b"data");
    let request = crate::tsa::request(digest.as_ref(), "2.16.840.1.101.3.4.2.1", &[7]);
    let resp = crate::tsa::post_tsa(&app, request, "application/timestamp-query").await;
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await.unwrap();
    assert!(
        body.windows(new.len()).any(|w| w == new.as_slice()),
        "the token carries the new TSA certificate"
    );
}

crate::clocked_tests!(near_a_ca_end, tsa_renewed_while_running);
crate::dual_tests!(counts_and_request_ids);

/// Rekey: K1 → `K2,K1` and `trustd rekey` → K2 alone starts and its keys sign; K1 alone is
/// refused; a second rekey has nothing left to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekey_moves_every_key_to_a_new_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("trustd.db").display());
    let k1 = trustd::keys::vault::MasterKey::generate_base64()
        .unwrap()
        .to_string();
    let k2 = trustd::keys::vault::MasterKey::generate_base64()
        .unwrap()
        .to_string();
    let token = format!("rekey-admin-token-{}", crate::helpers::random_hex(16));
    let mut s = settings(&dir, &url, &k1, &token);
    let client = reqwest::Client::new();
    let create = |address: String, n: u32| {
        let client = client.clone();
        let token = token.clone();
        async move {
            client
                .post(format!("{address}/api/v1/departments"))
                .bearer_auth(&token)
                .json(&json!({"code": credit_code(n), "name": format!("部门{n}")}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let (address, _, handle) = start(s.clone()).await.unwrap();
    assert_eq!(create(address, 51).await, 201);
    handle.stop(true).await;

    s.master_key = Some(Secret::new(format!("{k2},{k1}")));
    let done = trustd::startup::rekey(s.clone()).await.unwrap();
    assert!(done.keys >= 5, "{done:?}");
    assert_eq!(trustd::startup::rekey(s.clone()).await.unwrap().keys, 0);

    s.master_key = Some(Secret::new(k2));
    let (address, ctx, handle) = start(s.clone()).await.unwrap();
    // The root's key (moved to K2) signs the new department's CA.
    assert_eq!(create(address, 52).await, 201);
    let logged = ctx
        .store
        .search_events(&trustd::store::EventQuery {
            event_type: Some("keys.rekeyed".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logged.len(), 2);
    handle.stop(true).await;

    s.master_key = Some(Secret::new(k1));
    let err = start(s).await.unwrap_err();
    assert!(
        matches!(err, trustd::startup::StartupError::WrongMasterKey),
        "{err}"
    );
}

/// `trustd log replay` with a hostile export: a forged entry, or an export that stops short of
/// the mark, is refused before anything is written; the genuine export then replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_refuses_a_hostile_export() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("trustd.db").display());
    let master = trustd::keys::vault::MasterKey::generate_base64()
        .unwrap()
        .to_string();
    let token = format!("replay-admin-token-{}", crate::helpers::random_hex(16));
    let s = settings(&dir, &url, &master, &token);
    let client = reqwest::Client::new();
    let (address, _, handle) = start(s.clone()).await.unwrap();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{address}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let auditor: Value = post("/api/v1/api-keys", json!({"role": "auditor"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auditor = auditor["token"].as_str().unwrap().to_owned();
    let backup = dir.path().join("backup");
    let manifest = trustd::startup::backup(&s, &backup).await.unwrap();
    for n in 61..64 {
        let resp = post(
            "/api/v1/departments",
            json!({"code": credit_code(n), "name": format!("部门{n}")}),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 201);
    }
    // The mark follows the checkpoints; wait until it holds every entry.
    let mut size = 0;
    for _ in 0..100 {
        let mark = trustd::admin::recovery::read_mark(dir.path()).unwrap();
        let note = reqwest::get(format!("{address}/api/v1/log/checkpoint"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        size = note.lines().nth(1).unwrap().parse::<u64>().unwrap();
        if mark.is_some_and(|m| m.size == size) && size > manifest.log_size {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let export = client
        .get(format!("{address}/api/v1/log/export"))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    handle.stop(true).await;
    // Restored onto a fresh data directory, as on a replacement machine: the stopped instance
    // lives on in this process until its tasks end (a real one exits), and its last database
    // connection, on closing, removes the WAL by name, which would be that of a database
    // restored in its place.
    let _old = dir;
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(_old.path()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if entry.file_type().unwrap().is_file() && !name.to_string_lossy().starts_with("trustd.db")
        {
            std::fs::copy(entry.path(), dir.path().join(&name)).unwrap();
        }
    }
    let url = format!("sqlite://{}", dir.path().join("trustd.db").display());
    let s = settings(&dir, &url, &master, &token);
    let lines: Vec<String> = export.lines().map(str::to_owned).collect();
    assert_eq!(lines.len() as u64, size);

    // Back to the backup: behind the mark.
    trustd::startup::restore(&s, &backup, true).unwrap();
    let write = |name: &str, lines: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    };
    let forged = {
        let mut forged = lines.clone();
        let last = forged.last_mut().unwrap();
        let mut item: Value = serde_json::from_str(last).unwrap();
        let entry = b64.decode(item["entry"].as_str().unwrap()).unwrap();
        let entry = String::from_utf8(entry)
            .unwrap()
            .replace("部门63", "部门99");
        item["entry"] = json!(b64.encode(entry));
        *last = item.to_string();
        forged
    };
    for (name, export, why) in [
        ("forged.ndjson", forged, "do not hash to the root"),
        (
            "short.ndjson",
            lines[..lines.len() - 1].to_vec(),
            "export ends at",
        ),
    ] {
        let path = write(name, &export);
        let err = trustd::startup::replay(s.clone(), &path).await.unwrap_err();
        assert!(err.to_string().contains(why), "{name}: {err}");
        assert!(err.to_string().contains("nothing was written"), "{err}");
        let store = trustd::store::SqlStore::connect(&url).await.unwrap();
        use trustd::store::Repository as _;
        assert_eq!(store.log_size().await.unwrap(), manifest.log_size, "{name}");
    }
    let genuine = write("genuine.ndjson", &lines);
    let done = trustd::startup::replay(s.clone(), &genuine).await.unwrap();
    assert_eq!(done.entries, size - manifest.log_size);
    let (_, ctx, handle) = start(s).await.unwrap();
    assert_eq!(ctx.store.log_size().await.unwrap(), size);
    handle.stop(true).await;
}
