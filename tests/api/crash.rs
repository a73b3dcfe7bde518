//! Crash consistency: the real binary runs a mixed load (departments, seals, stampings,
//! licences) and is killed with SIGKILL at random moments, 20 times on SQLite; it must start
//! cleanly each time, and at the end every acknowledged object exists with its certificate and
//! its log entry, every acknowledged stamping has its entry, and nothing is half-made.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sqlx::Row;

use crate::helpers::{credit_code, database_url, random_hex, Db};

struct Server {
    child: Child,
    url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn launch(dir: &std::path::Path, db: &str, master: &str, admin: &str) -> Server {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trustd"))
        .arg("serve")
        .env("TRUSTD_LISTEN", format!("127.0.0.1:{port}"))
        .env("TRUSTD_DATA_DIR", dir)
        .env("TRUSTD_DATABASE_URL", db)
        .env("TRUSTD_MASTER_KEY", master)
        .env("TRUSTD_ADMIN_TOKEN", admin)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
            if r.status() == 200 {
                return Server { child, url };
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("trustd did not start");
}

/// What the load got acknowledged (2xx), to find after the crashes.
#[derive(Default)]
struct Acked {
    departments: BTreeSet<String>,
    seals: BTreeSet<String>,
    licences: BTreeSet<String>,
    /// Log indices of acknowledged stampings.
    stamps: BTreeSet<i64>,
}

/// A random duration in `[from, to)` milliseconds.
fn random_ms(from: u64, to: u64) -> Duration {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new().fill(&mut b).unwrap();
    Duration::from_millis(from + u64::from_le_bytes(b) % (to - from))
}

/// The mixed load of one worker until the server goes away: departments (admin), seals,
/// stampings and licences (operator of the fixed department).
async fn load(
    worker: u32,
    first: u32,
    url: String,
    admin: String,
    op: String,
    type_code: String,
    acked: Arc<Mutex<Acked>>,
) {
    let client = reqwest::Client::new();
    let pdf = crate::stamp::sample_pdf(1);
    let mut seal: Option<String> = None;
    for n in first.. {
        let sent = match worker % 4 {
            0 | 1 => {
                let code = credit_code(n);
                client
                    .post(format!("{url}/api/v1/departments"))
                    .bearer_auth(&admin)
                    .json(&serde_json::json!({"code": code, "name": format!("部门{n}")}))
                    .send()
                    .await
                    .map(|r| (r, Some(code)))
            }
            2 => match &seal {
                Some(id) if n % 3 != 0 => client
                    .post(format!("{url}/api/v1/seals/{id}/stamp?level=B-B"))
                    .bearer_auth(&op)
                    .header("content-type", "application/pdf")
                    .body(pdf.clone())
                    .send()
                    .await
                    .map(|r| (r, None)),
                _ => client
                    .post(format!("{url}/api/v1/seals"))
                    .bearer_auth(&op)
                    .json(&serde_json::json!({"name": format!("印章{n}"), "kind": "other"}))
                    .send()
                    .await
                    .map(|r| (r, None)),
            },
            _ => client
                .post(format!("{url}/api/v1/licences"))
                .bearer_auth(&op)
                .json(&serde_json::json!({"type_code": type_code, "holder": {"name": "张三", "code_type": "111", "code": "11010519491231002X"}}))
                .send()
                .await
                .map(|r| (r, None)),
        };
        let Ok((resp, code)) = sent else { break };
        let status = resp.status();
        if !status.is_success() {
            assert!(status == 409 || status == 503, "unexpected {status}");
            continue;
        }
        let index = resp
            .headers()
            .get("trustd-log-index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok());
        let Ok(body) = resp.bytes().await else { break };
        let mut acked = acked.lock().unwrap();
        match (worker % 4, code) {
            (0 | 1, Some(code)) => {
                acked.departments.insert(code);
            }
            (2, _) => match index {
                Some(i) => {
                    acked.stamps.insert(i);
                }
                None => {
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    let id = v["id"].as_str().unwrap().to_owned();
                    acked.seals.insert(id.clone());
                    seal = Some(id);
                }
            },
            _ => {
                let v: Value = serde_json::from_slice(&body).unwrap();
                acked
                    .licences
                    .insert(v["identifier"].as_str().unwrap().to_owned());
            }
        }
    }
}

async fn crash_loop(db: Db, rounds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db_url) = database_url(db, &dir).await else {
        return;
    };
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    let admin = format!("crash-test-admin-{}", random_hex(16));
    let acked: Arc<Mutex<Acked>> = Default::default();
    // A department, its operator and a licence type for the seal and licence workers.
    let (op, type_code) = {
        let mut server = launch(dir.path(), &db_url, &master, &admin).await;
        let client = reqwest::Client::new();
        let code = credit_code(999_999);
        let r = client
            .post(format!("{}/api/v1/departments", server.url))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"code": code, "name": "福州市人民政府"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        acked.lock().unwrap().departments.insert(code.clone());
        let key: Value = client
            .post(format!("{}/api/v1/api-keys", server.url))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"role": "operator", "department_code": code}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let op = key["token"].as_str().unwrap().to_owned();
        let t: Value = client
            .post(format!("{}/api/v1/licence-types", server.url))
            .bearer_auth(&op)
            .json(&serde_json::json!({"name": "证", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        (op, t["type_code"].as_str().unwrap().to_owned())
    };
    let mut next = 1u32;
    for _round in 0..rounds {
        // The server must start cleanly after every kill.
        let mut server = launch(dir.path(), &db_url, &master, &admin).await;
        let mut tasks = Vec::new();
        for worker in 0..4u32 {
            tasks.push(tokio::spawn(load(
                worker,
                next + worker * 1000,
                server.url.clone(),
                admin.clone(),
                op.clone(),
                type_code.clone(),
                acked.clone(),
            )));
        }
        next += 10_000;
        // Kill at a random moment.
        tokio::time::sleep(random_ms(100, 1200)).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        for t in tasks {
            t.await.unwrap();
        }
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.departments.len() >= 10 && !acked.seals.is_empty() && !acked.licences.is_empty(),
        "the load acknowledged too little: {} departments, {} seals, {} licences, {} stamps",
        acked.departments.len(),
        acked.seals.len(),
        acked.licences.len(),
        acked.stamps.len()
    );

    eprintln!(
        "crash test: {rounds} SIGKILLs; acknowledged {} departments, {} seals, {} licences, {} stampings",
        acked.departments.len(),
        acked.seals.len(),
        acked.licences.len(),
        acked.stamps.len()
    );

    // Restart: every acknowledged department is there, with its CA, and its log event.
    let mut server = launch(dir.path(), &db_url, &master, &admin).await;
    let client = reqwest::Client::new();
    let mut stored = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/api/v1/departments?limit=500", server.url);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for d in page["items"].as_array().unwrap() {
            assert!(d["ca_certificate_pem"]
                .as_str()
                .unwrap()
                .contains("BEGIN CERTIFICATE"));
            stored.insert(d["code"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let lost: Vec<_> = acked.departments.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    for id in &acked.seals {
        let r = client
            .get(format!("{}/api/v1/seals/{id}", server.url))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged seal {id} lost");
    }
    for id in &acked.licences {
        let r = client
            .get(format!("{}/api/v1/licences/{id}", server.url))
            .bearer_auth(&op)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged licence {id} lost");
    }

    // No half-made objects: each department, seal and licence has its certificate and its one
    // log event; each acknowledged stamping its entry; the log has no gaps.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db_url).await.unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get::<i64, _>(0)
                .unwrap()
        }
    };
    let departments = count("SELECT COUNT(*) FROM departments").await;
    assert_eq!(departments as usize, stored.len());
    assert_eq!(
        count("SELECT COUNT(*) FROM certificates WHERE kind = 'department-ca'").await,
        departments
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM events WHERE event_type = 'department.created'").await,
        departments
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM departments d JOIN events e ON e.subject = d.code AND e.event_type = 'department.created'").await,
        departments
    );
    let seals = count("SELECT COUNT(*) FROM seals").await;
    assert!(seals as usize >= acked.seals.len());
    assert_eq!(
        count("SELECT COUNT(*) FROM seals s JOIN certificates c ON c.serial = s.certificate_serial JOIN keys k ON k.id = c.key_id").await,
        seals,
        "a seal without its certificate or key"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM seals s JOIN events e ON e.subject = s.id AND e.event_type = 'seal.created'").await,
        seals,
        "a seal without its log entry"
    );
    let licences = count("SELECT COUNT(*) FROM licences").await;
    assert!(licences as usize >= acked.licences.len());
    assert_eq!(
        count("SELECT COUNT(*) FROM events WHERE event_type = 'licence.issued'").await,
        licences,
        "a licence without its log entry, or an entry without its licence"
    );
    for index in &acked.stamps {
        let row = sqlx::query("SELECT event_type FROM events WHERE idx = $1")
            .bind(*index)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.try_get::<String, _>(0).unwrap(), "document.stamped");
    }
    let (n, max) = {
        let row = sqlx::query("SELECT COUNT(*), MAX(idx) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
        (
            row.try_get::<i64, _>(0).unwrap(),
            row.try_get::<i64, _>(1).unwrap(),
        )
    };
    assert_eq!(n, max + 1, "log indices must be dense");
    let size = count("SELECT size FROM log_state").await;
    assert_eq!(size, n);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_sqlite() {
    // The embedded default: killed 20 times at random moments.
    crash_loop(Db::Sqlite, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_postgres() {
    crash_loop(Db::Postgres, 5).await;
}

/// SIGTERM stops the server gracefully: an in-flight request completes and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("trustd.db").display());
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [5u8; 32]);
    let admin = format!("sigterm-test-admin-{}", random_hex(16));
    let mut server = launch(dir.path(), &db, &master, &admin).await;
    // A request in flight while the signal arrives.
    let url = server.url.clone();
    let admin2 = admin.clone();
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/api/v1/departments"))
            .bearer_auth(admin2)
            .json(&serde_json::json!({"code": credit_code(1), "name": "一"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..300 {
        if let Some(s) = server.child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exited = exited.unwrap_or_else(|| {
        let _ = server.child.kill();
        panic!("trustd did not stop within 15 s of SIGTERM");
    });
    assert!(exited.success(), "exit status {exited:?}");
    // The request that was in flight got a complete answer (created, or refused before it began).
    if let Ok(status) = in_flight.await.unwrap() {
        assert!(status == 201 || status == 503, "status {status}");
    }
}
