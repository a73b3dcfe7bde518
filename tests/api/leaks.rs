//! Secrets never leak: a workflow over the whole API (with errors) runs with every log line
//! captured at TRACE level (all crates), and every response head and body is kept; then both
//! are scanned for the master key, every API token, and every private key (opened from the
//! database with the master key), in hex and base64. The capture is process-wide, so log lines
//! of the other tests running alongside are scanned too (for this test's secrets).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::{credit_code, spawn_app, Db, TestApp};

static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other test installs a global subscriber");
        buffer
    })
    .clone()
}

/// Every encoding of a secret we look for.
fn encodings(secret: &[u8]) -> Vec<String> {
    vec![
        hex::encode(secret),
        hex::encode_upper(secret),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ]
}

struct Recorder {
    seen: Vec<u8>,
}

impl Recorder {
    /// The answer that shows a new API token, once, by design: read but not scanned.
    async fn token_answer(&mut self, resp: reqwest::Response) -> (u16, Vec<u8>) {
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }

    async fn keep(&mut self, resp: reqwest::Response) -> (u16, Vec<u8>) {
        let status = resp.status().as_u16();
        for (k, v) in resp.headers() {
            self.seen.extend_from_slice(k.as_str().as_bytes());
            self.seen.extend_from_slice(b": ");
            self.seen.extend_from_slice(v.as_bytes());
            self.seen.push(b'\n');
        }
        let body = resp.bytes().await.unwrap().to_vec();
        self.seen.extend_from_slice(&body);
        self.seen.push(b'\n');
        (status, body)
    }
}

async fn workflow(app: &TestApp, rec: &mut Recorder) -> Vec<String> {
    let mut tokens = vec![app.admin_token.clone()];
    let code = credit_code(77);
    let c = &app.client;
    let admin = app.admin_token.clone();
    let post = |path: &str, token: &str, body: Value| {
        c.post(app.url(path)).bearer_auth(token).json(&body).send()
    };
    rec.keep(
        post(
            "/api/v1/departments",
            &admin,
            json!({"code": code, "name": "福州市人民政府"}),
        )
        .await
        .unwrap(),
    )
    .await;
    let (_, body) = rec
        .token_answer(
            post(
                "/api/v1/api-keys",
                &admin,
                json!({"role": "operator", "department_code": code}),
            )
            .await
            .unwrap(),
        )
        .await;
    let op = serde_json::from_slice::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = rec
        .token_answer(
            post("/api/v1/api-keys", &admin, json!({"role": "auditor"}))
                .await
                .unwrap(),
        )
        .await;
    let auditor = serde_json::from_slice::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    tokens.extend([op.clone(), auditor.clone()]);
    let (_, body) = rec
        .keep(
            post(
                "/api/v1/seals",
                &op,
                json!({"name": "公章", "kind": "official"}),
            )
            .await
            .unwrap(),
        )
        .await;
    let seal = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pdf = crate::stamp::sample_pdf(1);
    let (status, sealed) = rec
        .keep(
            c.post(app.url(&format!("/api/v1/seals/{seal}/stamp?level=B-LTA")))
                .bearer_auth(&op)
                .header("content-type", "application/pdf")
                .body(pdf)
                .send()
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, 200);
    rec.keep(
        c.post(app.url("/api/v1/verify/pdf"))
            .header("content-type", "application/pdf")
            .body(sealed)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (_, body) = rec
        .keep(
            post(
                "/api/v1/licence-types",
                &op,
                json!({"name": "居住证", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}]}),
            )
            .await
            .unwrap(),
        )
        .await;
    let type_code = serde_json::from_slice::<Value>(&body).unwrap()["type_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = rec
        .keep(
            post(
                "/api/v1/licences",
                &op,
                json!({"type_code": type_code, "holder": {"name": "张三", "code_type": "111", "code": "11010519491231002X"}}),
            )
            .await
            .unwrap(),
        )
        .await;
    let id = serde_json::from_slice::<Value>(&body).unwrap()["identifier"]
        .as_str()
        .unwrap()
        .to_owned();
    for (path, token) in [
        (format!("/api/v1/licences/{id}"), Some(op.clone())),
        (format!("/api/v1/public/licences/{id}"), None),
        (format!("/v/{id}"), None),
        (format!("/api/v1/seals/{seal}"), Some(op.clone())),
        (format!("/api/v1/departments/{code}"), Some(admin.clone())),
        ("/api/v1/log/export".to_owned(), Some(auditor.clone())),
        ("/api/v1/log/checkpoint".to_owned(), None),
        ("/api/v1/trust-anchors".to_owned(), None),
        (format!("/crl/{code}.crl"), None),
        ("/metrics".to_owned(), Some(admin.clone())),
        // Errors: unknown and revoked-looking tokens, wrong department, unknown ids.
        (format!("/api/v1/seals/{seal}"), Some(admin.clone())),
        ("/api/v1/seals/nope".to_owned(), Some(op.clone())),
        ("/api/v1/departments".to_owned(), Some(format!("{op}x"))),
    ] {
        let mut req = c.get(app.url(&path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        rec.keep(req.send().await.unwrap()).await;
    }
    rec.keep(
        post("/api/v1/departments", &admin, json!({"code": 1}))
            .await
            .unwrap(),
    )
    .await;
    rec.keep(
        c.post(app.url("/api/v1/seals"))
            .bearer_auth(&op)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_responses_or_logs() {
    let log = capture_logs();
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let mut rec = Recorder { seen: Vec::new() };
    let tokens = workflow(&app, &mut rec).await;

    // The secrets: master key, tokens, every private key in the database.
    let master = base64::engine::general_purpose::STANDARD
        .decode(&app.master_key)
        .unwrap();
    let mut secrets: Vec<(String, Vec<String>)> = vec![
        ("master key (base64)".into(), vec![app.master_key.clone()]),
        ("master key".into(), encodings(&master)),
    ];
    for t in &tokens {
        // The token and its secret part (trustd_<id>_<secret>).
        let mut forms = vec![t.clone()];
        if let Some(secret) = t.splitn(3, '_').nth(2) {
            forms.push(secret.to_owned());
        }
        secrets.push(("API token".into(), forms));
    }
    let vault = trustd::keys::vault::MasterKey::from_base64(&app.master_key).unwrap();
    let pool = sqlx::sqlite::SqlitePool::connect(&app.database_url)
        .await
        .unwrap();
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT id, sealed_private_key FROM keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        rows.len() >= 6,
        "root, TSA, log, department CA, seal, signer and responders"
    );
    for (id, sealed) in rows {
        let pkcs8 = vault.open(&format!("trustd:keys:{id}"), &sealed).unwrap();
        let mut enc = encodings(&pkcs8);
        // The 32-byte private scalar or seed, inside an OCTET STRING (04 20).
        if let Some(at) = pkcs8.windows(2).position(|w| w == [0x04, 0x20]) {
            enc.extend(encodings(&pkcs8[at + 2..at + 34]));
        }
        secrets.push((format!("private key {id}"), enc));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = log.lock().unwrap().clone();
    assert!(
        String::from_utf8_lossy(&logs).contains("trustd listening"),
        "the log capture works"
    );
    // The scan finds a secret when there is one.
    let planted = format!("…{}…", secrets.last().unwrap().1[0]);
    assert!(find_leak(planted.as_bytes(), &secrets).is_some());
    for (what, hay) in [("responses", &rec.seen), ("log lines", &logs)] {
        if let Some(found) = find_leak(hay, &secrets) {
            panic!("{found} in {what}");
        }
    }
}

/// The first secret found in `hay`, named with its context.
fn find_leak(hay: &[u8], secrets: &[(String, Vec<String>)]) -> Option<String> {
    let text = String::from_utf8_lossy(hay);
    for (name, forms) in secrets {
        for form in forms {
            assert!(form.len() >= 16, "{name}: too short to scan for");
            if let Some(at) = text.find(form.as_str()) {
                let context: String = text[at..].chars().take(80).collect();
                return Some(format!("{name} found: {context}…"));
            }
        }
    }
    None
}
