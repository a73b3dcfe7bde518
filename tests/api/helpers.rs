//! Test harness: a server on port 0 with a fresh database (SQLite in a temporary directory,
//! or a fresh PostgreSQL database when TRUSTD_TEST_POSTGRES_URL is set).

use std::sync::Arc;

use serde_json::Value;
use sqlx::Executor;
use tempfile::TempDir;
use trustd::codes::credit_code_with_check;
use trustd::config::{Secret, ServeSettings};
use trustd::context::Context;
use trustd::startup::Application;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub data_dir: TempDir,
    pub database_url: String,
    pub master_key: String,
    pub ctx: Arc<Context>,
    pub handle: actix_web::dev::ServerHandle,
}

/// A random lower-case hex string of `bytes` random bytes.
pub fn random_hex(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut b = vec![0u8; bytes];
    ring::rand::SystemRandom::new().fill(&mut b).unwrap();
    hex::encode(b)
}

/// A fresh PostgreSQL database, or `None` when the tests are not given a server.
pub async fn fresh_postgres_url() -> Option<String> {
    let Ok(base) = std::env::var("TRUSTD_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok() {
            panic!("CI must set TRUSTD_TEST_POSTGRES_URL so that the PostgreSQL tests run");
        }
        eprintln!("TRUSTD_TEST_POSTGRES_URL not set: PostgreSQL variant skipped");
        return None;
    };
    let name = format!("trustd_test_{}", random_hex(8));
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap();
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    Some(format!("{prefix}/{name}"))
}

pub async fn database_url(db: Db, dir: &TempDir) -> Option<String> {
    match db {
        Db::Sqlite => Some(format!(
            "sqlite://{}",
            dir.path().join("trustd.db").display()
        )),
        Db::Postgres => fresh_postgres_url().await,
    }
}

pub fn settings(
    dir: &TempDir,
    database_url: &str,
    master_key: &str,
    admin_token: &str,
) -> ServeSettings {
    let mut s = ServeSettings::for_data_dir(dir.path());
    s.database_url = Some(database_url.to_owned());
    s.master_key = Some(Secret::new(master_key));
    s.admin_token = Some(Secret::new(admin_token));
    s.max_upload_bytes = 2 * 1024 * 1024;
    // The matrix and the error tests fail authentication on purpose, many times a minute from
    // one address; privacy.rs checks the production limit.
    s.auth_failures_per_minute = 10_000;
    s
}

pub async fn start(
    settings: ServeSettings,
) -> Result<(String, Arc<Context>, actix_web::dev::ServerHandle), trustd::startup::StartupError> {
    start_with_clock(settings, Arc::new(trustd::clock::SystemClock)).await
}

pub async fn start_with_clock(
    settings: ServeSettings,
    clock: Arc<dyn trustd::clock::Clock>,
) -> Result<(String, Arc<Context>, actix_web::dev::ServerHandle), trustd::startup::StartupError> {
    let app = Application::build_with_clock(settings, clock).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let ctx = app.context();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    Ok((address, ctx, handle))
}

pub async fn spawn_app(db: Db) -> Option<TestApp> {
    spawn_app_with_clock(db, Arc::new(trustd::clock::SystemClock)).await
}

/// A server whose clock the test sets (e.g. a [`trustd::clock::FixedClock`]).
pub async fn spawn_app_with_clock(db: Db, clock: Arc<dyn trustd::clock::Clock>) -> Option<TestApp> {
    spawn_app_custom(db, clock, |_| {}).await
}

/// A server with settings changed by `tweak` (limits, timeouts).
pub async fn spawn_app_custom(
    db: Db,
    clock: Arc<dyn trustd::clock::Clock>,
    tweak: impl FnOnce(&mut ServeSettings),
) -> Option<TestApp> {
    let data_dir = tempfile::tempdir().unwrap();
    let database_url = database_url(db, &data_dir).await?;
    let master_key = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        [42u8; 32].map(|b| b ^ 0x5a),
    );
    let admin_token = format!("test-admin-token-{}", random_hex(16));
    let mut settings = settings(&data_dir, &database_url, &master_key, &admin_token);
    tweak(&mut settings);
    let (address, ctx, handle) = start_with_clock(settings, clock).await.unwrap();
    Some(TestApp {
        address,
        client: reqwest::Client::new(),
        admin_token,
        data_dir,
        database_url,
        master_key,
        ctx,
        handle,
    })
}

/// A valid credit code derived from `n` (distinct codes for distinct n).
pub fn credit_code(n: u32) -> String {
    credit_code_with_check(&format!("11110000{n:09}"))
        .unwrap()
        .to_string()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Creates a department (as admin) and returns its JSON.
    pub async fn create_department(&self, code: &str, name: &str) -> Value {
        let resp = self
            .post_json(
                "/api/v1/departments",
                Some(&self.admin_token),
                &serde_json::json!({"code": code, "name": name}),
            )
            .await;
        assert_eq!(resp.status(), 201, "creating {code}");
        resp.json().await.unwrap()
    }

    /// Creates an API key (as admin) and returns (id, token).
    pub async fn create_key(&self, role: &str, department: Option<&str>) -> (String, String) {
        let resp = self
            .post_json(
                "/api/v1/api-keys",
                Some(&self.admin_token),
                &serde_json::json!({"role": role, "department_code": department, "label": "test"}),
            )
            .await;
        assert_eq!(resp.status(), 201, "creating a {role} key");
        let body: Value = resp.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Waits until the checkpoint covers every committed entry.
    pub async fn wait_for_checkpoint(&self) -> u64 {
        for _ in 0..100 {
            let size = self.ctx.store.log_size().await.unwrap();
            let integrated = self.ctx.store.integrated_size().await.unwrap();
            if size == integrated {
                return size;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the log was not integrated within 5 s");
    }
}

/// For [`assert_problem`]: a refused request, either of the wrong shape (400) or of refused
/// content (422), where a table of cases mixes both.
pub const INVALID: u16 = 0;

/// Asserts a problem+json answer with the given status ([`INVALID`]: 400 or 422); returns the
/// body.
pub async fn assert_problem(resp: reqwest::Response, status: u16) -> Value {
    let status = if status == INVALID && resp.status() == 422 {
        422
    } else if status == INVALID {
        400
    } else {
        status
    };
    assert_eq!(resp.status(), status, "status");
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().unwrap().starts_with("/problems/"));
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}

/// Generates `mod name { sqlite, postgres }` tests running `name(app)` on each backend.
#[macro_export]
macro_rules! dual_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Db::Sqlite).await.unwrap();
                    super::$name(app).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Db::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

/// Generates `mod name { sqlite, postgres }` tests running `name(app, clock)` on each backend,
/// with a [`trustd::clock::FixedClock`] the test sets.
#[macro_export]
macro_rules! clocked_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                async fn run(db: $crate::helpers::Db) {
                    let clock = std::sync::Arc::new(trustd::clock::FixedClock::new(
                        time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
                    ));
                    if let Some(app) = $crate::helpers::spawn_app_with_clock(db, clock.clone()).await {
                        super::$name(app, clock).await;
                    }
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::helpers::Db::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run($crate::helpers::Db::Postgres).await;
                }
            }
        )*
    };
}
