//! Issue 16: tiles, witnesses, offline proofs of logging, and a split view caught.
//!
//! - `witness_follows_the_protocol`: trustd's witness answers every case of
//!   c2sp.org/tlog-witness with the specification's status, and keeps its state across a
//!   restart.
//! - `witness_survives_sigkill`: the `trustd witness` process killed during a stream of
//!   checkpoints never cosigns, after its restart, anything older than or inconsistent with what
//!   it cosigned.
//! - `log_with_two_witnesses` (both databases): the log gets both witnesses' cosignatures,
//!   publishes them, serves tiles that rebuild its root, gives offline proofs for a licence and
//!   a stamping that `check_file` accepts; a forked checkpoint signed with the log's own key is
//!   refused by both witnesses and reported by `trustd audit`.

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use serde_json::{json, Value};
use tempfile::TempDir;
use trustd::config::{AuditArgs, Secret, WitnessSettings};
use trustd::keys::{KeyAlgorithm, Signer, SoftwareKey};
use trustd::log::checkpoint::{Checkpoint, NoteVerifier};
use trustd::log::cosign::{cosigned_by, AddCheckpoint, CosignerKey};
use trustd::log::merkle::{leaf_hash, Hash, MemoryTree};
use trustd::log::proof::{check_file, ProofPolicy, TlogProof};
use trustd::witness::WitnessServer;

use crate::dual_tests;
use crate::helpers::{assert_problem, credit_code, settings, start, TestApp};

fn witness_settings(dir: &TempDir, name: Option<&str>, logs: Vec<String>) -> WitnessSettings {
    WitnessSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        name: name.map(str::to_owned),
        logs,
        master_key: Some(Secret::new(B64.encode([7u8; 32]))),
        master_key_file: None,
    }
}

async fn start_witness(
    settings: &WitnessSettings,
) -> (String, String, actix_web::dev::ServerHandle) {
    let server = WitnessServer::build(settings).await.unwrap();
    let url = format!("http://127.0.0.1:{}", server.port());
    let vkey = server.vkey();
    let handle = server.handle();
    tokio::spawn(server.run_until_stopped());
    (url, vkey, handle)
}

/// A log for the protocol tests: a key, an origin, and a tree.
struct TestLog {
    key: SoftwareKey,
    verifier: NoteVerifier,
    tree: MemoryTree,
}

impl TestLog {
    /// A log of `origin` whose leaves depend on `seed` (another seed: a fork).
    fn new(origin: &str) -> TestLog {
        Self::forked(origin, "")
    }
    fn forked(origin: &str, seed: &str) -> TestLog {
        let (key, _) = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let verifier = NoteVerifier::new(origin, key.public_key()).unwrap();
        let mut tree = MemoryTree::new();
        for i in 0..40u32 {
            tree.push(leaf_hash(format!("{origin} {seed}{i}").as_bytes()));
        }
        TestLog {
            key,
            verifier,
            tree,
        }
    }
    fn note(&self, size: u64, root: Hash) -> String {
        let body = Checkpoint::new(self.verifier.name(), size, root)
            .unwrap()
            .body();
        let sig = self.key.sign(body.as_bytes()).unwrap();
        format!("{body}\n{}", self.verifier.signature_line(&sig))
    }
    fn request(&self, old: u64, size: u64) -> String {
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            self.tree.consistency_proof(old, size).unwrap()
        };
        AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: self.note(size, self.tree.root(size)),
        }
        .to_body()
    }
}

async fn add(client: &reqwest::Client, url: &str, body: String) -> reqwest::Response {
    client
        .post(format!("{url}/add-checkpoint"))
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn expect_size(resp: reqwest::Response, size: u64) {
    assert_eq!(resp.status(), 409);
    assert_eq!(resp.headers()["content-type"], "text/x.tlog.size");
    assert_eq!(resp.text().await.unwrap(), format!("{size}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_follows_the_protocol() {
    let log = TestLog::new("example.gov.cn/log");
    let other = TestLog::new("example.gov.cn/other");
    let dir = tempfile::tempdir().unwrap();
    let logs = vec![log.verifier.to_key_string(), other.verifier.to_key_string()];
    let settings = witness_settings(&dir, Some("audit.example.gov.cn/w1"), logs.clone());
    let (url, vkey, handle) = start_witness(&settings).await;
    let cosigner = CosignerKey::parse(&vkey).unwrap();
    let client = reqwest::Client::new();

    // First contact: old 0, no proof. The answer is a cosignature line over the checkpoint.
    let resp = add(&client, &url, log.request(0, 10)).await;
    assert_eq!(resp.status(), 200);
    let line = resp.text().await.unwrap();
    let note = log.note(10, log.tree.root(10));
    let cosigned = format!("{note}{line}");
    assert!(cosigner.cosigned_at(&cosigned).unwrap().is_some());
    assert_eq!(
        cosigned_by(&cosigned, std::slice::from_ref(&cosigner)).len(),
        1
    );
    // A stale old size: 409 with the size the witness knows.
    expect_size(add(&client, &url, log.request(0, 12)).await, 10).await;
    expect_size(add(&client, &url, log.request(5, 12)).await, 10).await;
    // A consistent extension is cosigned; the same checkpoint again too.
    assert_eq!(add(&client, &url, log.request(10, 20)).await.status(), 200);
    let with_foreign_line = format!(
        "{}\u{2014} someone.else/key AAAAAAE=\n",
        log.request(20, 20)
    );
    assert_eq!(add(&client, &url, with_foreign_line).await.status(), 200);
    // 422: a proof from another tree, the same size with another root.
    let fork = TestLog::forked("example.gov.cn/log", "fork");
    let bad_proof = AddCheckpoint {
        old_size: 20,
        proof: fork.tree.consistency_proof(20, 30).unwrap(),
        checkpoint: log.note(30, fork.tree.root(30)),
    };
    assert_problem(add(&client, &url, bad_proof.to_body()).await, 422).await;
    let same_size = AddCheckpoint {
        old_size: 20,
        proof: Vec::new(),
        checkpoint: log.note(20, fork.tree.root(20)),
    };
    assert_problem(add(&client, &url, same_size.to_body()).await, 422).await;
    // 400: old size above the checkpoint's; malformed bodies.
    let shrinking = AddCheckpoint {
        old_size: 25,
        proof: Vec::new(),
        checkpoint: log.note(21, log.tree.root(21)),
    };
    assert_problem(add(&client, &url, shrinking.to_body()).await, 400).await;
    assert_problem(add(&client, &url, "old 1\n".into()).await, 400).await;
    assert_problem(add(&client, &url, "garbage".into()).await, 400).await;
    // 404: a log this witness does not know.
    let stranger = TestLog::new("example.gov.cn/stranger");
    assert_problem(add(&client, &url, stranger.request(0, 3)).await, 404).await;
    // 403: signed by another key under the log's name, or a broken signature of the log's key.
    let mut impostor = TestLog::new("example.gov.cn/log");
    impostor.tree = log.tree.clone();
    assert_problem(add(&client, &url, impostor.request(20, 30)).await, 403).await;
    let broken = log.request(20, 30).replacen(
        &B64.encode(log.tree.root(30)),
        &B64.encode(fork.tree.root(30)),
        1,
    );
    assert_problem(add(&client, &url, broken).await, 403).await;
    // The log's key name and id on a signature of the wrong length: a failed signature, 403.
    let short = {
        let note = log.note(30, log.tree.root(30));
        let (body, sig) = note.split_once("\n\n").unwrap();
        let (prefix, blob) = sig.trim_end().rsplit_once(' ').unwrap();
        let mut bytes = B64.decode(blob).unwrap();
        bytes.pop();
        let proof = log.tree.consistency_proof(20, 30).unwrap();
        AddCheckpoint {
            old_size: 20,
            proof,
            checkpoint: format!("{body}\n\n{prefix} {}\n", B64.encode(bytes)),
        }
    };
    assert_problem(add(&client, &url, short.to_body()).await, 403).await;
    // Size 0 must carry the empty tree's root; a proof from size 0 must be empty.
    let empty_bad = AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        checkpoint: other.note(0, [1u8; 32]),
    };
    assert_problem(add(&client, &url, empty_bad.to_body()).await, 422).await;
    let proof_from_zero = AddCheckpoint {
        old_size: 0,
        proof: vec![[2u8; 32]],
        checkpoint: other.note(5, other.tree.root(5)),
    };
    assert_problem(add(&client, &url, proof_from_zero.to_body()).await, 422).await;

    // The monitoring endpoint: the latest cosigned checkpoint, with the cosignature.
    let origin_hash = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        b"example.gov.cn/log",
    ));
    let latest = client
        .get(format!("{url}/{origin_hash}/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(latest.status(), 200);
    let latest = latest.text().await.unwrap();
    assert_eq!(log.verifier.verify(&latest, None).unwrap().size(), 20);
    assert_eq!(
        latest.matches('\u{2014}').count(),
        2,
        "the log's line and the witness's: {latest}"
    );
    assert!(cosigner.cosigned_at(&latest).unwrap().is_some());
    let unknown = client
        .get(format!("{url}/{}/checkpoint", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 404).await;
    let get = client
        .get(format!("{url}/add-checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.headers()["allow"], "POST");
    assert_problem(get, 405).await;

    // A restart keeps the key and the state; the name cannot change.
    handle.stop(true).await;
    let again = witness_settings(&dir, None, logs.clone());
    let (url, vkey2, handle) = start_witness(&again).await;
    assert_eq!(vkey2, vkey);
    expect_size(add(&client, &url, log.request(10, 30)).await, 20).await;
    assert_eq!(add(&client, &url, log.request(20, 30)).await.status(), 200);
    handle.stop(true).await;
    let renamed = witness_settings(&dir, Some("audit.example.gov.cn/w2"), logs);
    assert!(WitnessServer::build(&renamed).await.is_err());
}

/// SIGKILL during a stream of add-checkpoint calls: after the restart the witness knows at
/// least the largest size it answered with a cosignature, refuses anything older than what it
/// knows, and refuses a fork of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_survives_sigkill() {
    let log = TestLog::new("example.gov.cn/log");
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let spawn = |name: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trustd"));
        cmd.arg("witness")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--log")
            .arg(log.verifier.to_key_string())
            .env("TRUSTD_WITNESS_MASTER_KEY", B64.encode([9u8; 32]))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(n) = name {
            cmd.arg("--name").arg(n);
        }
        cmd.spawn().unwrap()
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut child = Reaped(spawn(Some("audit.example.gov.cn/crash")));
    wait_up(&client, &url).await;
    let vkey = client
        .get(format!("{url}/vkey"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cosigner = CosignerKey::parse(vkey.trim()).unwrap();
    // Stream checkpoints 1, 2, 3, … and kill the witness while the stream runs.
    let killer = {
        let pid = child.0.id();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap();
        })
    };
    let mut acknowledged = 0u64;
    let mut old = 0u64;
    for size in 1..40u64 {
        let Ok(resp) = client
            .post(format!("{url}/add-checkpoint"))
            .body(log.request(old, size))
            .send()
            .await
        else {
            break;
        };
        if resp.status() != 200 {
            break;
        }
        let Ok(line) = resp.text().await else { break };
        let note = log.note(size, log.tree.root(size));
        assert!(cosigner
            .cosigned_at(&format!("{note}{line}"))
            .unwrap()
            .is_some());
        acknowledged = size;
        old = size;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    killer.await.unwrap();
    let _ = child.0.wait();
    assert!(acknowledged > 0, "no cosignature before the kill");
    assert!(acknowledged < 39, "the kill must land during the stream");

    let _child = Reaped(spawn(None));
    wait_up(&client, &url).await;
    // What it knows now is at least what it acknowledged.
    let resp = client
        .post(format!("{url}/add-checkpoint"))
        .body(log.request(0, acknowledged))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let known: u64 = resp.text().await.unwrap().trim().parse().unwrap();
    assert!(
        known >= acknowledged,
        "knows {known}, acknowledged {acknowledged}"
    );
    // Nothing older is cosigned (old size above the checkpoint's: 400; the old size it
    // knows with an older checkpoint: 400 too), and a fork of what it knows is refused.
    if known > 1 {
        let older = AddCheckpoint {
            old_size: known,
            proof: Vec::new(),
            checkpoint: log.note(known - 1, log.tree.root(known - 1)),
        }
        .to_body();
        assert_eq!(
            client
                .post(format!("{url}/add-checkpoint"))
                .body(older)
                .send()
                .await
                .unwrap()
                .status(),
            400
        );
    }
    let fork = TestLog::forked("example.gov.cn/log", "fork");
    let forked = AddCheckpoint {
        old_size: known,
        proof: Vec::new(),
        checkpoint: log.note(known, fork.tree.root(known)),
    };
    assert_eq!(
        client
            .post(format!("{url}/add-checkpoint"))
            .body(forked.to_body())
            .send()
            .await
            .unwrap()
            .status(),
        422
    );
    let forked_larger = AddCheckpoint {
        old_size: known,
        proof: fork.tree.consistency_proof(known, known + 1).unwrap(),
        checkpoint: log.note(known + 1, fork.tree.root(known + 1)),
    };
    assert_eq!(
        client
            .post(format!("{url}/add-checkpoint"))
            .body(forked_larger.to_body())
            .send()
            .await
            .unwrap()
            .status(),
        422
    );
    // And the honest log goes on.
    let resp = client
        .post(format!("{url}/add-checkpoint"))
        .body(log.request(known, known + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// A child process killed when dropped, so that a failing test leaves no witness running.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_up(client: &reqwest::Client, url: &str) {
    for _ in 0..200 {
        if client.get(format!("{url}/healthz")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the witness did not start");
}

/// Restarts `app` with two witnesses configured (both running trustd's witness, each knowing
/// the app's log key); returns the restarted app and the witnesses' (url, vkey).
async fn with_two_witnesses(
    app: TestApp,
) -> (
    TestApp,
    Vec<(String, String)>,
    Vec<(TempDir, actix_web::dev::ServerHandle)>,
) {
    let log_vkey = app.ctx.log.verifier().to_key_string();
    app.handle.stop(true).await;
    let mut witnesses = Vec::new();
    let mut dirs = Vec::new();
    for n in 1..=2 {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("witness{n}.example.gov.cn");
        let (url, vkey, handle) =
            start_witness(&witness_settings(&dir, Some(&name), vec![log_vkey.clone()])).await;
        witnesses.push((url, vkey));
        dirs.push((dir, handle));
    }
    let mut s = settings(
        &app.data_dir,
        &app.database_url,
        &app.master_key,
        &app.admin_token,
    );
    s.witnesses = witnesses
        .iter()
        .map(|(url, vkey)| format!("{vkey} {url}"))
        .collect::<Vec<_>>()
        .join("; ");
    s.witness_quorum = Some(2);
    let (address, ctx, handle) = start(s).await.unwrap();
    let app = TestApp {
        address,
        ctx,
        handle,
        ..app
    };
    (app, witnesses, dirs)
}

/// Waits until the published checkpoint is witnessed and covers every entry; returns it.
async fn wait_witnessed(app: &TestApp) -> String {
    let size = app.wait_for_checkpoint().await;
    for _ in 0..200 {
        if let Some(p) = app.ctx.log.published().await.unwrap() {
            if p.witnessed && p.size >= size {
                return p.note;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the checkpoint was not witnessed within 10 s");
}

async fn log_with_two_witnesses(app: TestApp) {
    let (app, witnesses, running) = with_two_witnesses(app).await;
    let keys: Vec<CosignerKey> = witnesses
        .iter()
        .map(|(_, v)| CosignerKey::parse(v).unwrap())
        .collect();
    let code = credit_code(16);
    app.create_department(&code, "见证局").await;
    let (_, operator) = app.create_key("operator", Some(&code)).await;
    let (_, auditor) = app.create_key("auditor", None).await;
    let (_, auditor_dept) = app.create_key("auditor", Some(&code)).await;
    let t: Value = app
        .post_json(
            "/api/v1/licence-types",
            Some(&operator),
            &json!({"name": "证", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let licence: Value = app
        .post_json(
            "/api/v1/licences",
            Some(&operator),
            &json!({"type_code": t["type_code"], "holder": {"name": "李四", "code_type": "111", "code": "11010519491231002X"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = licence["identifier"].as_str().unwrap();
    let token = licence["token"].as_str().unwrap();
    let seal: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&operator),
            &json!({"name": "见证局公章", "kind": "official"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let resp = crate::stamp::post_pdf(
        &app,
        &operator,
        seal["id"].as_str().unwrap(),
        "",
        crate::stamp::sample_pdf(1),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let stamp_index: u64 = resp.headers()["trustd-log-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let stamped = resp.bytes().await.unwrap().to_vec();

    // The published checkpoint carries both cosignatures, at both URLs.
    let note = wait_witnessed(&app).await;
    for path in ["/log/checkpoint", "/api/v1/log/checkpoint"] {
        let resp = app.get(path, None).await;
        assert_eq!(resp.headers()["cache-control"], "no-cache");
        let served = resp.text().await.unwrap();
        assert!(served.starts_with(note.split("\n\n").next().unwrap()));
        assert_eq!(cosigned_by(&served, &keys).len(), 2, "{path}");
    }
    let log = app.ctx.log.verifier().clone();
    let checkpoint = log.verify(&note, None).unwrap();
    let witnesses_doc: Value = app
        .get("/api/v1/log/witnesses", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(witnesses_doc["quorum"], 2);
    assert_eq!(
        witnesses_doc["witnesses"][1]["vkey"],
        witnesses[1].1.as_str()
    );

    // Tiles rebuild the checkpoint's root; entry bundles are the entries, for auditors only.
    let size = checkpoint.size();
    assert!(size < 256, "one partial tile is enough here");
    let tile_path = format!("/log/tile/0/000.p/{size}");
    let resp = app.get(&tile_path, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let tile = resp.bytes().await.unwrap();
    assert_eq!(tile.len() as u64, 32 * size);
    let mut tree = MemoryTree::new();
    for h in tile.chunks(32) {
        tree.push(h.try_into().unwrap());
    }
    assert_eq!(tree.root(size), *checkpoint.root());
    assert_eq!(
        app.get("/log/tile/0/000", None).await.status(),
        404,
        "no full tile yet"
    );
    assert_eq!(
        app.get(&format!("/log/tile/0/000.p/{}", size + 1), None)
            .await
            .status(),
        404
    );
    assert_eq!(app.get("/log/tile/0/0", None).await.status(), 404);
    let bundle_path = format!("/log/tile/entries/000.p/{size}");
    assert_problem(app.get(&bundle_path, None).await, 401).await;
    assert_problem(app.get(&bundle_path, Some(&operator)).await, 403).await;
    assert_problem(app.get(&bundle_path, Some(&auditor_dept)).await, 403).await;
    let resp = app.get(&bundle_path, Some(&auditor)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"],
        "private, max-age=31536000, immutable"
    );
    let bundle = resp.bytes().await.unwrap();
    let (mut at, mut i) = (0usize, 0u64);
    while at < bundle.len() {
        let len = u16::from_be_bytes([bundle[at], bundle[at + 1]]) as usize;
        let entry = &bundle[at + 2..at + 2 + len];
        assert_eq!(
            leaf_hash(entry),
            tile[32 * i as usize..32 * (i as usize + 1)]
        );
        at += 2 + len;
        i += 1;
    }
    assert_eq!(i, size);

    // Offline proofs of logging: the licence (by its identifier) and the stamping (by index).
    let policy = ProofPolicy {
        log: log.clone(),
        witnesses: keys.clone(),
        quorum: 2,
    };
    let resp = app
        .get(&format!("/api/v1/licences/{id}/log-proof"), None)
        .await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let proof = TlogProof::parse(&text).unwrap();
    let found = check_file(&proof, token.as_bytes(), &policy).unwrap();
    assert_eq!(
        (found.event_type.as_str(), found.bound_by),
        ("licence.issued", "token_sha256")
    );
    let entry = String::from_utf8(proof.extra.clone().unwrap()).unwrap();
    assert!(entry.contains("holder_commitment"), "{entry}");
    for personal in [
        "李四",
        "11010519491231002X",
        "holder_hash",
        "holder_name_hash",
    ] {
        assert!(
            !text.contains(personal) && !entry.contains(personal),
            "{personal}"
        );
    }
    assert!(check_file(&proof, b"another token", &policy).is_err());
    // The holder's SD-JWT copy is bound by its issuer-signed part; a disclosure added by
    // someone else is refused.
    let sd_jwt = licence["sd_jwt"].as_str().unwrap();
    let found = check_file(&proof, sd_jwt.as_bytes(), &policy).unwrap();
    assert_eq!(found.bound_by, "sd_jwt_sha256");
    let forged = format!("{sd_jwt}{}~", B64URL.encode(r#"["salt","name","王五"]"#));
    assert!(check_file(&proof, forged.as_bytes(), &policy).is_err());
    // By index, a licence's entry is not given out (it would name the licence).
    let by_index: u64 = proof.index;
    let anonymous = app
        .get(&format!("/api/v1/log/proofs/{by_index}"), None)
        .await;
    let anonymous = TlogProof::parse(&anonymous.text().await.unwrap()).unwrap();
    assert!(anonymous.extra.is_none());
    assert!(check_file(&anonymous, token.as_bytes(), &policy).is_err());
    let resp = app
        .get(&format!("/api/v1/log/proofs/{stamp_index}"), None)
        .await;
    assert_eq!(resp.status(), 200);
    let proof = TlogProof::parse(&resp.text().await.unwrap()).unwrap();
    let found = check_file(&proof, &stamped, &policy).unwrap();
    assert_eq!(
        (found.event_type.as_str(), found.bound_by),
        ("document.stamped", "output_sha256")
    );
    assert!(check_file(&proof, &crate::stamp::sample_pdf(1), &policy).is_err());
    // A proof whose checkpoint lost a cosignature fails a quorum of two.
    let mut thin = proof.clone();
    let mut lines: Vec<&str> = proof.checkpoint.lines().collect();
    lines.pop();
    thin.checkpoint = format!("{}\n", lines.join("\n"));
    assert!(check_file(&thin, &stamped, &policy).is_err());
    // Not yet logged, or no such entry.
    let pending = app.get("/api/v1/log/proofs/999999", None).await;
    assert_problem(pending, 404).await;
    assert_problem(app.get("/api/v1/log/proofs/x", None).await, 400).await;

    // `trustd audit` checks the cosignatures.
    let state = app.data_dir.path().join("audit-witnessed.json");
    let mut args = AuditArgs {
        url: app.address.clone(),
        token: Some(Secret::new(auditor.clone())),
        state: state.clone(),
        key: Some(log.to_key_string()),
        witness: witnesses.iter().map(|(_, v)| v.clone()).collect(),
        quorum: Some(2),
        ca_file: None,
    };
    let report = trustd::audit::run(&args).await.unwrap();
    assert_eq!(report.witnessed_by.len(), 2);

    // Split view: the operator signs a fork with the log's own key (test hook). Both witnesses
    // refuse it, whether as a larger tree or as another root for the size they cosigned.
    let fork_root = [0x5au8; 32];
    let client = reqwest::Client::new();
    for (url, _) in &witnesses {
        let larger = AddCheckpoint {
            old_size: size,
            proof: vec![[1u8; 32]],
            checkpoint: app
                .ctx
                .log
                .sign_any_checkpoint_for_tests(size + 1, fork_root)
                .unwrap(),
        };
        let resp = add(&client, url, larger.to_body()).await;
        assert_eq!(resp.status(), 422, "witness {url} must refuse the fork");
        let same = AddCheckpoint {
            old_size: size,
            proof: Vec::new(),
            checkpoint: app
                .ctx
                .log
                .sign_any_checkpoint_for_tests(size, fork_root)
                .unwrap(),
        };
        assert_eq!(add(&client, url, same.to_body()).await.status(), 422);
    }
    // An auditor who was shown the fork (its state holds the forked root for this size) finds
    // the honest checkpoint does not match it: FORK.
    let forked_state =
        json!({"key": log.to_key_string(), "size": size, "root": B64.encode(fork_root)});
    std::fs::write(&state, forked_state.to_string()).unwrap();
    let err = trustd::audit::run(&args).await.unwrap_err();
    assert!(err.to_string().starts_with("FORK"), "{err}");
    let evidence = std::fs::read_to_string(state.with_extension("json.evidence")).unwrap();
    assert!(evidence.contains("served_note") && evidence.contains(&B64.encode(fork_root)));
    let forked_state =
        json!({"key": log.to_key_string(), "size": size - 1, "root": B64.encode(fork_root)});
    std::fs::write(&state, forked_state.to_string()).unwrap();
    let err = trustd::audit::run(&args).await.unwrap_err();
    assert!(err.to_string().starts_with("FORK"), "{err}");
    // A witness the auditor trusts but the log never asked: NOT WITNESSED.
    std::fs::remove_file(&state).unwrap();
    let (stranger, _) = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
    args.witness = vec![CosignerKey::new("stranger.example", stranger.public_key())
        .unwrap()
        .to_vkey()];
    args.quorum = Some(1);
    let err = trustd::audit::run(&args).await.unwrap_err();
    assert!(err.to_string().starts_with("NOT WITNESSED"), "{err}");

    // With the witnesses gone, a new entry is checkpointed but never witnessed: its proof is
    // pending (409, Retry-After), and the published checkpoint stays the witnessed one.
    for (_, handle) in &running {
        handle.stop(true).await;
    }
    app.create_key("auditor", None).await;
    let index = app.wait_for_checkpoint().await - 1;
    let resp = app.get(&format!("/api/v1/log/proofs/{index}"), None).await;
    assert!(resp.headers().contains_key("retry-after"));
    let body = assert_problem(resp, 409).await;
    assert_eq!(body["type"], "/problems/log-proof-pending");
    let published = app.ctx.log.published().await.unwrap().unwrap();
    assert!(published.witnessed && published.size <= index);
}

/// A tree of more than two full tiles: full and partial level-0 tiles, a level-1 tile, and
/// what a tile client computes from them (root, level-1 hashes) matches the checkpoint.
async fn tiles_of_a_larger_tree(app: TestApp) {
    let now = time::OffsetDateTime::now_utc();
    let mut writes = trustd::store::WriteSet::new();
    for i in 0..600 {
        let event =
            trustd::log::Event::new(trustd::log::EventType::ApiKeyCreated, now, format!("k{i}"));
        writes = writes.event(event.to_new_event());
    }
    app.ctx.store.apply(writes).await.unwrap();
    app.wait_for_checkpoint().await;
    let note = app.get("/log/checkpoint", None).await.text().await.unwrap();
    let checkpoint = app.ctx.log.verifier().verify(&note, None).unwrap();
    let size = checkpoint.size();
    assert!(size > 512 && size < 768);
    let mut tree = MemoryTree::new();
    for n in 0..3u64 {
        let path = if n < 2 {
            format!("/log/tile/0/00{n}")
        } else {
            format!("/log/tile/0/002.p/{}", size - 512)
        };
        let resp = app.get(&path, None).await;
        assert_eq!(resp.status(), 200, "{path}");
        for h in resp.bytes().await.unwrap().chunks(32) {
            tree.push(h.try_into().unwrap());
        }
    }
    assert_eq!(tree.root(size), *checkpoint.root());
    let level1 = app
        .get("/log/tile/1/000.p/2", None)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(level1[..32], tree.range_hash(0, 256));
    assert_eq!(level1[32..], tree.range_hash(256, 512));
    assert_eq!(app.get("/log/tile/1/000.p/3", None).await.status(), 404);
    assert_eq!(app.get("/log/tile/1/000", None).await.status(), 404);
    assert_eq!(app.get("/log/tile/2/000.p/1", None).await.status(), 404);
    assert_eq!(app.get("/log/tile/0/002", None).await.status(), 404);
}

dual_tests!(log_with_two_witnesses, tiles_of_a_larger_tree);
