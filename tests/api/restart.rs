//! A restart keeps departments and keys; a wrong master key fails start-up cleanly.

use crate::dual_tests;
use crate::helpers::{credit_code, settings, start, TestApp};
use trustd::startup::StartupError;

async fn restart_keeps_state_and_checks_the_master_key(app: TestApp) {
    let code = credit_code(42);
    let dept = app.create_department(&code, "四十二局").await;
    let (_, operator) = app.create_key("operator", Some(&code)).await;
    let root_before = app.get("/ca/root.pem", None).await.text().await.unwrap();
    let size_before = app.wait_for_checkpoint().await;
    app.handle.stop(true).await;

    let s = settings(
        &app.data_dir,
        &app.database_url,
        &app.master_key,
        &app.admin_token,
    );
    let (address, ctx, handle) = start(s).await.unwrap();
    let client = reqwest::Client::new();
    let root_after = client
        .get(format!("{address}/ca/root.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        root_before, root_after,
        "a second start must not make a second root"
    );
    let again: serde_json::Value = client
        .get(format!("{address}/api/v1/departments/{code}"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["ca_certificate_pem"], dept["ca_certificate_pem"]);
    // The operator key still authenticates (403 on an admin route rather than 401).
    let status = client
        .get(format!("{address}/api/v1/departments"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 403);
    // Nothing was re-created: the log did not grow by a second bootstrap.
    assert_eq!(ctx.store.log_size().await.unwrap(), size_before);
    // A department can still be created: the CA key decrypts after the restart.
    let resp = client
        .post(format!("{address}/api/v1/departments"))
        .bearer_auth(&app.admin_token)
        .json(&serde_json::json!({"code": credit_code(43), "name": "四十三局"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    handle.stop(true).await;

    // A wrong master key is refused with a clear error, not a panic.
    let wrong = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [1u8; 32]);
    let started = start(settings(
        &app.data_dir,
        &app.database_url,
        &wrong,
        &app.admin_token,
    ))
    .await;
    let Err(err) = started else {
        panic!("a wrong master key must fail start-up");
    };
    assert!(matches!(err, StartupError::WrongMasterKey), "{err}");
    assert!(err.to_string().contains("master key"));
    let err = start(settings(
        &app.data_dir,
        &app.database_url,
        "not-base64",
        &app.admin_token,
    ))
    .await
    .err()
    .unwrap();
    assert!(matches!(err, StartupError::MasterKey(_)), "{err}");
    let err = start(settings(
        &app.data_dir,
        &app.database_url,
        &app.master_key,
        "short",
    ))
    .await
    .err()
    .unwrap();
    assert!(matches!(err, StartupError::AdminTokenTooShort), "{err}");
}

/// An installation from before issue 15 (no SM2 root, CAs or seal twins) gains them at its
/// next start, each logged; the seal can then seal OFDs.
async fn an_older_installation_gains_the_national_hierarchy(app: TestApp) {
    let code = credit_code(44);
    app.create_department(&code, "四十四局").await;
    let (_, op) = app.create_key("operator", Some(&code)).await;
    let seal: serde_json::Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op),
            &serde_json::json!({"name": "四十四局公章", "kind": "official"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let seal = seal["id"].as_str().unwrap().to_owned();
    app.handle.stop(true).await;
    // What the database looked like before: no national rows at all.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    for sql in [
        "DELETE FROM seal_esls",
        "DELETE FROM meta WHERE key = 'sm2_root_ca_serial'",
        "DELETE FROM certificates WHERE kind LIKE 'sm2-%'",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let (address, ctx, handle) = start(settings(
        &app.data_dir,
        &app.database_url,
        &app.master_key,
        &app.admin_token,
    ))
    .await
    .unwrap();
    let client = reqwest::Client::new();
    for path in ["/ca/root-sm2.pem".to_owned(), format!("/ca/{code}-sm2.pem")] {
        let resp = client.get(format!("{address}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    let esl = client
        .get(format!("{address}/api/v1/seals/{seal}/esl"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(esl.status(), 200);
    let resp = client
        .post(format!("{address}/api/v1/seals/{seal}/stamp"))
        .bearer_auth(&op)
        .header("content-type", "application/ofd")
        .body(crate::ofd::sample_ofd(1))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = ctx.store.log_size().await.unwrap();
    assert!(events > 0);
    handle.stop(true).await;
}

dual_tests!(
    restart_keeps_state_and_checks_the_master_key,
    an_older_installation_gains_the_national_hierarchy
);

/// The embedded default: no master key given, so one is generated in the data directory with
/// mode 0600 and reused; the admin token file is written once with mode 0600.
#[tokio::test]
async fn generated_master_key_and_admin_token_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut s = trustd::config::ServeSettings::for_data_dir(dir.path());
    let (address, _, handle) = start(s.clone()).await.unwrap();
    let key_file = dir.path().join("master.key");
    let token_file = dir.path().join("admin-token");
    for f in [&key_file, &token_file] {
        assert_eq!(
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600,
            "{f:?}"
        );
    }
    let token = std::fs::read_to_string(&token_file).unwrap();
    let client = reqwest::Client::new();
    let status = client
        .get(format!("{address}/api/v1/departments"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    handle.stop(true).await;
    let key = std::fs::read(&key_file).unwrap();
    s.listen = "127.0.0.1:0".parse().unwrap();
    let (address, _, handle) = start(s.clone()).await.unwrap();
    assert_eq!(
        std::fs::read(&key_file).unwrap(),
        key,
        "the master key is reused"
    );
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        token,
        "no second admin token"
    );
    let status = client
        .get(format!("{address}/api/v1/departments"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    handle.stop(true).await;

    // The data directory is private, and so is the database SQLite created in it.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&dir.path().join("trustd.db")), 0o600);
    // Loosened by hand, the database and the directory are made private again at start...
    let perm = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    perm(&dir.path().join("trustd.db"), 0o644);
    perm(dir.path(), 0o755);
    let (_, _, handle) = start(s.clone()).await.unwrap();
    handle.stop(true).await;
    assert_eq!(mode(&dir.path().join("trustd.db")), 0o600);
    assert_eq!(mode(dir.path()), 0o700);
    // ... but a master key others could read is refused, with what to do.
    perm(&key_file, 0o644);
    let err = match start(s).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started with a world-readable master key"),
    };
    assert!(err.contains("readable by other users"), "{err}");
    assert_eq!(
        mode(&key_file),
        0o644,
        "the key file is left for the operator to judge"
    );
}
