//! The issuance log over HTTP: signed checkpoints, proofs, auditor queries, the independent
//! `trustd audit`, and two instances writing to one PostgreSQL.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;
use trustd::audit::{self, AuditError};
use trustd::config::AuditArgs;
use trustd::config::Secret;
use trustd::log::checkpoint::{Checkpoint, NoteVerifier};
use trustd::log::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash, MemoryTree};

use crate::dual_tests;
use crate::helpers::{
    assert_problem, credit_code, fresh_postgres_url, settings, start, TestApp, INVALID,
};

fn hashes(v: &Value) -> Vec<Hash> {
    v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect()
}

async fn checkpoint(app: &TestApp, verifier: &NoteVerifier) -> Checkpoint {
    let note = app
        .get("/api/v1/log/checkpoint", None)
        .await
        .text()
        .await
        .unwrap();
    verifier.verify(&note, Some(verifier.name())).unwrap()
}

async fn all_entries(app: &TestApp, token: &str, size: u64) -> Vec<Vec<u8>> {
    let body: Value = app
        .get(
            &format!("/api/v1/log/entries?start=0&end={size}"),
            Some(token),
        )
        .await
        .json()
        .await
        .unwrap();
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| B64.decode(e["entry"].as_str().unwrap()).unwrap())
        .collect()
}

async fn checkpoints_and_proofs_verify(app: TestApp) {
    for n in 1..=3 {
        app.create_department(&credit_code(n), &format!("部门{n}"))
            .await;
    }
    let (_, auditor) = app.create_key("auditor", None).await;
    let size = app.wait_for_checkpoint().await;
    let key = app.get("/api/v1/log/key", None).await.text().await.unwrap();
    let verifier = NoteVerifier::parse(&key).unwrap();
    let first = checkpoint(&app, &verifier).await;
    assert_eq!(first.size(), size);

    // The entries recompute the signed root; every inclusion proof verifies.
    let entries = all_entries(&app, &auditor, size).await;
    assert_eq!(entries.len() as u64, size);
    let mut tree = MemoryTree::new();
    for e in &entries {
        tree.push(leaf_hash(e));
    }
    assert_eq!(&tree.root(size), first.root());
    for index in 0..size {
        let proof: Value = app
            .get(
                &format!("/api/v1/log/proof/inclusion?index={index}&size={size}"),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        let leaf: Hash = B64
            .decode(proof["leaf_hash"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(leaf, leaf_hash(&entries[index as usize]));
        verify_inclusion(index, size, &leaf, &hashes(&proof), first.root()).unwrap();
    }

    // More events; the new checkpoint is consistent with the first, and with every older size.
    for n in 4..=6 {
        app.create_department(&credit_code(n), &format!("部门{n}"))
            .await;
    }
    let size2 = app.wait_for_checkpoint().await;
    let second = checkpoint(&app, &verifier).await;
    assert_eq!(second.size(), size2);
    let proof: Value = app
        .get(
            &format!("/api/v1/log/proof/consistency?from={size}&to={size2}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    verify_consistency(size, size2, first.root(), second.root(), &hashes(&proof)).unwrap();
    let entries = all_entries(&app, &auditor, size2).await;
    let mut tree = MemoryTree::new();
    for e in &entries {
        tree.push(leaf_hash(e));
    }
    for old in 1..=size2 {
        let proof: Value = app
            .get(
                &format!("/api/v1/log/proof/consistency?from={old}&to={size2}"),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        verify_consistency(old, size2, &tree.root(old), second.root(), &hashes(&proof)).unwrap();
    }

    // Malformed (400) or out-of-range (422) parameters.
    for bad in [
        format!("/api/v1/log/proof/inclusion?index={size2}&size={size2}"),
        format!("/api/v1/log/proof/inclusion?index=0&size={}", size2 + 1000),
        "/api/v1/log/proof/inclusion?index=0".to_owned(),
        "/api/v1/log/proof/inclusion?index=-1&size=2".to_owned(),
        "/api/v1/log/proof/inclusion?index=a&size=2".to_owned(),
        "/api/v1/log/proof/consistency?from=0&to=2".to_owned(),
        "/api/v1/log/proof/consistency?from=3&to=2".to_owned(),
        format!("/api/v1/log/proof/consistency?from=1&to={}", size2 + 1),
        "/api/v1/log/proof/consistency?from=99999999999999999999&to=2".to_owned(),
    ] {
        assert_problem(app.get(&bad, None).await, INVALID).await;
    }
}

async fn auditors_query_the_log(app: TestApp) {
    let a = credit_code(10);
    let b = credit_code(20);
    app.create_department(&a, "甲").await;
    app.create_department(&b, "乙").await;
    let (_, op_a) = app.create_key("operator", Some(&a)).await;
    let (_, auditor) = app.create_key("auditor", None).await;
    let (_, auditor_a) = app.create_key("auditor", Some(&a)).await;
    let size = app.wait_for_checkpoint().await;

    // Filter by department and type.
    let page: Value = app
        .get(
            &format!("/api/v1/log/search?department={a}&type=department.created"),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["event"]["subject"], a.as_str());
    assert_eq!(entries[0]["event"]["type"], "department.created");
    // Subject filter and time range.
    let page: Value = app
        .get(&format!("/api/v1/log/search?subject={b}"), Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    let page: Value = app
        .get(
            "/api/v1/log/search?until=2000-01-01T00:00:00Z",
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(page["entries"].as_array().unwrap().is_empty());
    let page: Value = app
        .get(
            "/api/v1/log/search?since=2000-01-01T00:00:00Z&limit=500",
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len() as u64, size);

    // Cursor pagination walks every entry once, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/log/search?limit=2&cursor={c}"),
            None => "/api/v1/log/search?limit=2".to_owned(),
        };
        let page: Value = app.get(&path, Some(&auditor)).await.json().await.unwrap();
        for e in page["entries"].as_array().unwrap() {
            seen.push(e["index"].as_u64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, (0..size).collect::<Vec<_>>());

    // NDJSON export holds the same entries.
    let resp = app.get("/api/v1/log/export", Some(&auditor)).await;
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/x-ndjson"
    );
    let text = resp.text().await.unwrap();
    let exported: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(exported, (0..size).collect::<Vec<_>>());

    // A department-bound auditor sees its department only.
    let page: Value = app
        .get("/api/v1/log/search?limit=500", Some(&auditor_a))
        .await
        .json()
        .await
        .unwrap();
    let departments: BTreeSet<String> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["event"]["department"]
                .as_str()
                .unwrap_or("none")
                .to_owned()
        })
        .collect();
    assert_eq!(departments, BTreeSet::from([a.clone()]));
    assert_problem(
        app.get(
            &format!("/api/v1/log/search?department={b}"),
            Some(&auditor_a),
        )
        .await,
        403,
    )
    .await;
    assert_problem(
        app.get(
            &format!("/api/v1/log/export?department={b}"),
            Some(&auditor_a),
        )
        .await,
        403,
    )
    .await;
    let body: Value = app
        .get("/api/v1/log/entries?start=0&end=100", Some(&auditor_a))
        .await
        .json()
        .await
        .unwrap();
    assert!(body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["event"]["department"] == a.as_str()));

    // Operators and anonymous callers are refused; bad parameters are 400 or 422.
    assert_problem(app.get("/api/v1/log/search", Some(&op_a)).await, 403).await;
    assert_problem(app.get("/api/v1/log/entries?start=0", None).await, 401).await;
    for bad in [
        "/api/v1/log/entries?start=0&end=5000",
        "/api/v1/log/entries?start=5&end=5",
        "/api/v1/log/entries",
        "/api/v1/log/search?type=nonsense",
        "/api/v1/log/search?since=yesterday",
        "/api/v1/log/search?cursor=bm9wZQ",
        "/api/v1/log/search?limit=100000",
    ] {
        assert_problem(app.get(bad, Some(&auditor)).await, INVALID).await;
    }

    // Entries hold no secrets: no token and no key material in any entry.
    for line in text.lines() {
        assert!(
            !line.contains(&op_a) && !line.contains(&auditor) && !line.contains(&app.admin_token)
        );
    }
}

fn audit_args(app: &TestApp, token: &str, state: &std::path::Path) -> AuditArgs {
    AuditArgs {
        url: app.address.clone(),
        token: Some(Secret::new(token)),
        state: state.to_owned(),
        key: None,
        witness: Vec::new(),
        quorum: None,
        ca_file: None,
    }
}

async fn audit_detects_tampering(app: TestApp) {
    app.create_department(&credit_code(1), "一").await;
    let (_, auditor) = app.create_key("auditor", None).await;
    let size = app.wait_for_checkpoint().await;
    let state = app.data_dir.path().join("audit-state.json");
    let report = audit::run(&audit_args(&app, &auditor, &state))
        .await
        .unwrap();
    assert_eq!(report.size, size);
    assert_eq!(report.entries_checked, size);

    app.create_department(&credit_code(2), "二").await;
    let size2 = app.wait_for_checkpoint().await;
    let report = audit::run(&audit_args(&app, &auditor, &state))
        .await
        .unwrap();
    assert_eq!((report.size, report.previous_size), (size2, Some(size)));

    // Rewrite one stored entry: the recomputed root no longer matches the signed checkpoint.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    let original: Vec<u8> = sqlx::Row::get(
        &sqlx::query("SELECT entry FROM events WHERE idx = 3")
            .fetch_one(&pool)
            .await
            .unwrap(),
        0,
    );
    let forged = String::from_utf8(original.clone())
        .unwrap()
        .replace("\"v\":1", "\"v\":2");
    sqlx::query("UPDATE events SET entry = $1 WHERE idx = 3")
        .bind(forged.into_bytes())
        .execute(&pool)
        .await
        .unwrap();
    let err = audit::run(&audit_args(&app, &auditor, &state))
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::Entries(_)), "{err}");
    sqlx::query("UPDATE events SET entry = $1 WHERE idx = 3")
        .bind(original)
        .execute(&pool)
        .await
        .unwrap();
    audit::run(&audit_args(&app, &auditor, &state))
        .await
        .unwrap();

    // Rewrite the stored subtree hashes: the served proofs no longer verify.
    sqlx::query("UPDATE log_nodes SET hash = $1")
        .bind(vec![0u8; 32])
        .execute(&pool)
        .await
        .unwrap();
    let err = audit::run(&audit_args(&app, &auditor, &state))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuditError::Inclusion(_) | AuditError::Consistency(_)),
        "{err}"
    );

    // A pinned key that is not the log's fails the signature check.
    let mut args = audit_args(
        &app,
        &auditor,
        &app.data_dir.path().join("other-state.json"),
    );
    args.key = Some(
        NoteVerifier::new(app.ctx.log.origin(), &[3u8; 32])
            .unwrap()
            .to_key_string(),
    );
    let err = audit::run(&args).await.unwrap_err();
    assert!(matches!(err, AuditError::Signature(_)), "{err}");
}

dual_tests!(
    checkpoints_and_proofs_verify,
    auditors_query_the_log,
    audit_detects_tampering
);

/// Two instances on one PostgreSQL write concurrently: indices are dense, every acknowledged
/// event is in the log exactly once, and all checkpoints seen are consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_postgres_log() {
    let Some(db) = fresh_postgres_url().await else {
        return;
    };
    let dir1 = tempfile::tempdir().unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let master = B64.encode([9u8; 32]);
    let admin = "two-instance-admin-token-0123456789abcdef";
    let (url1, ctx, h1) = start(settings(&dir1, &db, &master, admin)).await.unwrap();
    let (url2, _, h2) = start(settings(&dir2, &db, &master, admin)).await.unwrap();
    let verifier = ctx.log.verifier().clone();

    let mut tasks = Vec::new();
    for (w, url) in [&url1, &url2, &url1, &url2].into_iter().enumerate() {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut acked = Vec::new();
            let mut notes = Vec::new();
            for i in 0..15u32 {
                let code = credit_code(1000 * (w as u32 + 1) + i);
                let resp = client
                    .post(format!("{url}/api/v1/departments"))
                    .bearer_auth(admin)
                    .json(&serde_json::json!({"code": code, "name": "并发"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201);
                let body: Value = resp.json().await.unwrap();
                acked.push((code, body["log_index"].as_u64().unwrap()));
                notes.push(
                    client
                        .get(format!("{url}/api/v1/log/checkpoint"))
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap(),
                );
            }
            (acked, notes)
        }));
    }
    let mut acked = Vec::new();
    let mut notes = Vec::new();
    for t in tasks {
        let (a, n) = t.await.unwrap();
        acked.extend(a);
        notes.extend(n);
    }
    // Wait for the integrators to catch up.
    let mut size = 0;
    for _ in 0..100 {
        size = ctx.store.log_size().await.unwrap();
        if ctx.store.integrated_size().await.unwrap() == size {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let events = ctx.store.events(0, size).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.index).collect::<Vec<_>>(),
        (0..size).collect::<Vec<_>>()
    );
    for (code, index) in &acked {
        let matching: Vec<_> = events
            .iter()
            .filter(|e| e.event_type == "department.created" && &e.subject == code)
            .collect();
        assert_eq!(matching.len(), 1, "{code} must be logged exactly once");
        assert_eq!(
            matching[0].index, *index,
            "the index in the answer is final"
        );
    }
    let mut tree = MemoryTree::new();
    for e in &events {
        tree.push(leaf_hash(&e.entry));
    }
    let note = reqwest::get(format!("{url2}/api/v1/log/checkpoint"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last = verifier.verify(&note, None).unwrap();
    assert_eq!(last.size(), size);
    assert_eq!(last.root(), &tree.root(size));
    for note in notes {
        let cp = verifier.verify(&note, None).unwrap();
        assert_eq!(
            cp.root(),
            &tree.root(cp.size()),
            "checkpoint of {} is inconsistent",
            cp.size()
        );
        let proof: Value = reqwest::get(format!(
            "{url1}/api/v1/log/proof/consistency?from={}&to={size}",
            cp.size()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        verify_consistency(cp.size(), size, cp.root(), last.root(), &hashes(&proof)).unwrap();
    }
    h1.stop(true).await;
    h2.stop(true).await;
}

/// Proofs read the upper tree levels from memory: as the tree grows, and when another
/// instance integrated the new entries, they still match a tree recomputed from the entries,
/// and an instance that kept nothing gives the same proofs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_from_the_kept_upper_levels_follow_the_tree() {
    use std::sync::Arc;
    use trustd::clock::{Clock, SystemClock};
    use trustd::keys::{KeyAlgorithm, SoftwareKey};
    use trustd::log::{Event, EventType, TransparencyLog};
    use trustd::store::{Repository, SqlStore, WriteSet};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    let store: Arc<dyn Repository> = Arc::new(SqlStore::connect(&url).await.unwrap());
    let (key, _) = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let key: Arc<SoftwareKey> = Arc::new(key);
    let instance = |store: &Arc<dyn Repository>| {
        TransparencyLog::new(store.clone(), key.clone(), "test/log".into()).unwrap()
    };
    let (a, b) = (instance(&store), instance(&store));
    let mut tree = MemoryTree::new();
    let mut append = async |n: u64| {
        let mut ws = WriteSet::new();
        for i in tree.len()..tree.len() + n {
            let event = Event::new(
                EventType::CertificateIssued,
                SystemClock.now(),
                format!("{i:032x}"),
            )
            .to_new_event();
            tree.push(leaf_hash(&event.entry));
            ws = ws.event(event);
        }
        store.apply(ws).await.unwrap();
        tree.clone()
    };
    let check = async |log: &TransparencyLog, tree: &MemoryTree, size: u64| {
        let root = tree.root(size);
        for index in [0, 1, 255, 256, 511, 512, size / 2, size - 2, size - 1] {
            let proof = log.inclusion_proof(index, size).await.unwrap();
            let leaf: Hash = B64.decode(&proof.leaf_hash).unwrap().try_into().unwrap();
            let path: Vec<Hash> = proof
                .hashes
                .iter()
                .map(|h| B64.decode(h).unwrap().try_into().unwrap())
                .collect();
            assert_eq!(
                path,
                tree.inclusion_proof(index, size).unwrap(),
                "index {index}"
            );
            verify_inclusion(index, size, &leaf, &path, &root).unwrap();
        }
    };
    // Instance a integrates 700 entries (levels 8 and 9 have complete nodes) and proves.
    let tree1 = append(700).await;
    while a.integrate(SystemClock.now()).await.unwrap().is_some() {}
    check(&a, &tree1, 700).await;
    // Instance b integrates 1,400 more; a proves at the new size from what b stored.
    let tree2 = append(1400).await;
    while b.integrate(SystemClock.now()).await.unwrap().is_some() {}
    check(&a, &tree2, 2100).await;
    check(&a, &tree2, 700).await;
    let consistency = a.consistency_hashes(700, 2100).await.unwrap();
    assert_eq!(consistency, tree2.consistency_proof(700, 2100).unwrap());
    // A fresh instance, which kept nothing, gives the same proofs.
    check(&instance(&store), &tree2, 2100).await;
    // A size beyond the integrated tree is still refused.
    assert!(a.inclusion_proof(0, 2101).await.is_err());
}

/// On SQLite a group of new licences is stored in one round trip; a licence that cannot be
/// stored (an identifier taken) fails alone, and every other one in its group is stored with
/// its log entry at a dense index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_licence_fails_alone_in_its_group() {
    use std::sync::Arc;
    use trustd::clock::{Clock, SystemClock};
    use trustd::log::{Event, EventType};
    use trustd::store::{Change, LicenceRecord, LicenceState, Repository, WriteSet};

    let app = crate::helpers::spawn_app(crate::helpers::Db::Sqlite)
        .await
        .unwrap();
    let (dept, _, op, _, type_code) = crate::licences::setup(&app).await;
    let store: Arc<dyn Repository> = app.ctx.store.clone();
    let issued =
        crate::licences::issue(&app, &op, &crate::licences::licence_body(&type_code)).await;
    let signer = store
        .licence(issued["identifier"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap()
        .signer_serial;
    // Number 20 names a licence type that does not exist: it cannot be stored.
    let licence = |n: u32| LicenceRecord {
        identifier: format!("licence-{n}"),
        type_code: if n == 20 {
            "no-such-type".into()
        } else {
            type_code.clone()
        },
        number: format!("{n}"),
        holder_name: "张三".into(),
        holder_code_type: "111".into(),
        holder_code: "x".into(),
        holder_hash: format!("h{n}"),
        issuer_code: dept.clone(),
        issue_date: "2026-12-01".into(),
        valid_from: "2026-12-01".into(),
        valid_until: None,
        area_code: None,
        face: "{}".into(),
        status: LicenceState::Valid,
        status_reason: None,
        status_at: None,
        previous_identifier: None,
        signer_serial: signer.clone(),
        token: "t".into(),
        sd_jwt: None,
        created_at: 0,
    };
    let writes = |n: u32| {
        let event = Event::new(
            EventType::LicenceIssued,
            SystemClock.now(),
            format!("licence-{n}"),
        )
        .to_new_event();
        WriteSet::new()
            .change(Change::InsertLicence(Box::new(licence(n))))
            .event(event)
    };
    store.apply(writes(0)).await.unwrap();
    let before = store.log_size().await.unwrap();
    // 40 at once (they group).
    let tasks: Vec<_> = (1..=40u32)
        .map(|n| {
            let store = store.clone();
            let w = writes(n);
            tokio::spawn(async move { store.apply(w).await })
        })
        .collect();
    let mut indices = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(i) => indices.extend(i),
            Err(_) => failed += 1,
        }
    }
    assert_eq!(failed, 1);
    indices.sort();
    let expected: Vec<u64> = (before..before + 39).collect();
    assert_eq!(indices, expected, "dense indices for the 39 stored");
    assert_eq!(store.log_size().await.unwrap(), before + 39);
    for n in (1..=40u32).filter(|n| *n != 20) {
        assert!(store
            .licence(&format!("licence-{n}"))
            .await
            .unwrap()
            .is_some());
    }
    let events = store.events(before, before + 39).await.unwrap();
    assert_eq!(events.len(), 39);
}
