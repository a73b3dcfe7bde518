//! Crash consistency: the real binary creates departments under load and is killed with
//! SIGKILL; after a restart every acknowledged department exists with its CA and its log
//! event, and nothing exists half-made.

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

async fn crash_loop(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db_url) = database_url(db, &dir).await else {
        return;
    };
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    let admin = format!("crash-test-admin-{}", random_hex(16));
    let acked: Arc<Mutex<BTreeSet<String>>> = Default::default();
    let mut next = 1u32;
    for round in 0..3u64 {
        let mut server = launch(dir.path(), &db_url, &master, &admin).await;
        let mut tasks = Vec::new();
        for worker in 0..4u32 {
            let url = server.url.clone();
            let admin = admin.clone();
            let acked = acked.clone();
            let first = next + worker * 1000;
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                for n in first.. {
                    let code = credit_code(n);
                    let resp = client
                        .post(format!("{url}/api/v1/departments"))
                        .bearer_auth(&admin)
                        .json(&serde_json::json!({"code": code, "name": format!("部门{n}")}))
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status() == 201 => {
                            acked.lock().unwrap().insert(code);
                        }
                        Ok(r) => assert!(
                            r.status().is_success() || r.status() == 409,
                            "unexpected {}",
                            r.status()
                        ),
                        Err(_) => break,
                    }
                }
            }));
        }
        next += 10_000;
        // Kill at a different moment each round.
        tokio::time::sleep(Duration::from_millis(400 + 350 * round)).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        for t in tasks {
            t.await.unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 10,
        "the load loop acknowledged only {} departments",
        acked.len()
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
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");

    // No half-made objects: each department has exactly one CA certificate, one key and one
    // department.created event, and the log has no gaps.
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
    crash_loop(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_postgres() {
    crash_loop(Db::Postgres).await;
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
