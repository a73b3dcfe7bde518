//! Issuance log benchmarks (run with `cargo bench --bench log`; figures go to BENCHMARKS.md):
//!
//! 1. durable appends per second through the store (each acknowledged append committed and
//!    fsynced), one writer and 64 concurrent writers, SQLite (and PostgreSQL when
//!    TRUSTD_TEST_POSTGRES_URL is set);
//! 2. median server-side inclusion- and consistency-proof time on a log of LOG_BENCH_SIZE
//!    entries (default 1,000,000; LOG_BENCH_DIR keeps the filled installation for the next run),
//!    with SHA-256 of one entry as the baseline in the same run.
//!
//! Timed with the monotonic clock; medians over many runs because the machines are shared.

use std::sync::Arc;
use std::time::{Duration, Instant};

use trustd::clock::{Clock, SystemClock};
use trustd::keys::{KeyAlgorithm, SoftwareKey};
use trustd::log::{Event, EventType, TransparencyLog};
use trustd::store::{Repository, SqlStore, WriteSet};

fn event(n: u64) -> trustd::store::NewEvent {
    Event::new(
        EventType::CertificateIssued,
        SystemClock.now(),
        format!("{n:032x}"),
    )
    .department("91350100M000100Y43")
    .data("kind", "seal")
    .data("sha256", format!("{:064x}", n))
    .to_new_event()
}

async fn appends_per_second(store: Arc<dyn Repository>, writers: usize, total: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let n = total / writers;
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                store
                    .apply(WriteSet::new().event(event((w * n + i) as u64)))
                    .await
                    .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn fill(store: &Arc<dyn Repository>, log: &Arc<TransparencyLog>, size: u64) {
    let mut have = store.log_size().await.expect("size");
    let started = Instant::now();
    while have < size {
        let batch = (size - have).min(5000);
        let mut ws = WriteSet::new();
        for i in 0..batch {
            ws = ws.event(event(have + i));
        }
        store.apply(ws).await.expect("fill");
        have += batch;
    }
    // Integrate until the checkpoint covers everything (the server's own integrator may win
    // some rounds: a `None` only means someone else integrated).
    while store.integrated_size().await.expect("integrated") < store.log_size().await.expect("size")
    {
        log.integrate(SystemClock.now()).await.expect("integrate");
    }
    eprintln!(
        "filled and integrated {size} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn open(url: &str) -> (Arc<dyn Repository>, TransparencyLog) {
    let store: Arc<dyn Repository> = Arc::new(SqlStore::connect(url).await.expect("connect"));
    let (key, _) = SoftwareKey::generate(KeyAlgorithm::Ed25519).expect("key");
    let log = TransparencyLog::new(store.clone(), Arc::new(key), "bench/log".into()).expect("log");
    (store, log)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let appends: usize = std::env::var("LOG_BENCH_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let mut targets = vec![(
        "sqlite",
        format!("sqlite://{}", dir.path().join("appends.db").display()),
    )];
    if let Ok(pg) = std::env::var("TRUSTD_TEST_POSTGRES_URL") {
        targets.push(("postgres", pg));
    }
    for (name, url) in &targets {
        let url = if *name == "postgres" {
            // A fresh database per run.
            sqlx::any::install_default_drivers();
            use sqlx::{Connection, Executor};
            let db = format!("trustd_bench_{}", std::process::id());
            let mut c = sqlx::AnyConnection::connect(url).await.expect("pg");
            c.execute(format!("DROP DATABASE IF EXISTS {db}").as_str())
                .await
                .expect("drop");
            c.execute(format!("CREATE DATABASE {db}").as_str())
                .await
                .expect("create");
            format!("{}/{db}", url.rsplit_once('/').expect("url").0)
        } else {
            url.clone()
        };
        let (store, _) = open(&url).await;
        for writers in [1usize, 64] {
            let rate = appends_per_second(store.clone(), writers, appends).await;
            println!(
                "append/{name}/writers={writers}: {rate:.0} durable appends/s ({appends} appends)"
            );
        }
    }

    // A real installation (bootstrapped, serving HTTP) filled with `size` entries.
    let size: u64 = std::env::var("LOG_BENCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // LOG_BENCH_DIR keeps the installation between runs (a run tops it up to the size).
    let installation = std::env::var("LOG_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("installation"));
    let mut settings = trustd::config::ServeSettings::for_data_dir(installation);
    let admin = "bench-admin-token-0123456789abcdefghijkl";
    settings.admin_token = Some(trustd::config::Secret::new(admin));
    let app = trustd::startup::Application::build(settings)
        .await
        .expect("app");
    let ctx = app.context();
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let (store, log) = (ctx.store.clone(), ctx.log.clone());
    fill(&store, &log, size).await;
    // Measure the log at rest, not while the kernel writes back the gigabytes just loaded.
    let _ = std::process::Command::new("sync").status();
    let runs = 2000u64;
    let mut baseline = Vec::new();
    let entry = event(1).entry;
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(trustd::log::merkle::leaf_hash(std::hint::black_box(&entry)));
        baseline.push(t.elapsed());
    }
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..runs {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let index = x % size;
        let t = Instant::now();
        log.inclusion_proof(index, size).await.expect("inclusion");
        inclusion.push(t.elapsed());
        let from = 1 + x % (size - 1);
        let t = Instant::now();
        log.consistency_proof(from, size)
            .await
            .expect("consistency");
        consistency.push(t.elapsed());
    }
    let base = median(baseline);
    let (inc, con) = (median(inclusion), median(consistency));
    println!("proof/sqlite/size={size}: inclusion median {:.3} ms, consistency median {:.3} ms ({runs} random proofs each)",
        inc.as_secs_f64() * 1e3, con.as_secs_f64() * 1e3);
    println!(
        "baseline: SHA-256 of one entry median {:.2} µs; inclusion proof = {:.0}× that",
        base.as_secs_f64() * 1e6,
        inc.as_secs_f64() / base.as_secs_f64().max(1e-9)
    );

    // trustd audit over HTTP: checkpoint signature, every entry fetched and hashed, root
    // recomputed (LOG_BENCH_AUDIT=0 skips it: at 10,000,000 entries it takes about six minutes).
    if std::env::var("LOG_BENCH_AUDIT").is_ok_and(|v| v == "0") {
        return;
    }
    let client = reqwest::Client::new();
    let key: serde_json::Value = client
        .post(format!("{url}/api/v1/api-keys"))
        .bearer_auth(admin)
        .json(&serde_json::json!({"role": "auditor"}))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    let args = trustd::config::AuditArgs {
        url: url.clone(),
        token: Some(trustd::config::Secret::new(
            key["token"].as_str().expect("token"),
        )),
        state: dir.path().join("audit.json"),
        key: None,
        witness: Vec::new(),
        quorum: None,
        ca_file: None,
    };
    let t = Instant::now();
    let report = trustd::audit::run(&args).await.expect("audit");
    println!(
        "audit/size={}: trustd audit took {:.1} s ({} entries recomputed, client and server on the same 2 cores)",
        report.size,
        t.elapsed().as_secs_f64(),
        report.entries_checked
    );
}
