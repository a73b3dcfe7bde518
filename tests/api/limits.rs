//! Abuse limits: per-client rate limits on the public endpoints (429 with Retry-After), slow
//! clients cut off, requests that take too long stopped; each limit set through the settings.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{assert_problem, spawn_app_custom, Db};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_endpoints_are_rate_limited_per_client() {
    let app = spawn_app_custom(Db::Sqlite, Arc::new(trustd::clock::SystemClock), |s| {
        s.public_rate = 1;
        s.public_burst = 3;
    })
    .await
    .unwrap();
    for _ in 0..3 {
        assert_eq!(
            app.get("/api/v1/public/jwks.json", None).await.status(),
            200
        );
    }
    let resp = app.get("/api/v1/public/jwks.json", None).await;
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let p = assert_problem(resp, 429).await;
    assert_eq!(p["type"], "/problems/rate-limited");
    // The same bucket covers every public endpoint; the others are not limited.
    assert_problem(app.get("/v/anything", None).await, 429).await;
    for _ in 0..5 {
        assert_eq!(app.get("/healthz", None).await.status(), 200);
        assert_eq!(app.get("/api/v1/log/checkpoint", None).await.status(), 200);
    }
    // The bucket refills at the rate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.get("/api/v1/public/jwks.json", None).await.status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_have_their_own_limit() {
    let app = spawn_app_custom(Db::Sqlite, Arc::new(trustd::clock::SystemClock), |s| {
        s.max_json_bytes = 200;
    })
    .await
    .unwrap();
    let long = "部".repeat(100);
    let resp = app
        .post_json(
            "/api/v1/departments",
            Some(&app.admin_token),
            &serde_json::json!({"code": "91350100M000100Y43", "name": long}),
        )
        .await;
    assert_problem(resp, 413).await;
    let resp = app
        .post_json(
            "/api/v1/departments",
            Some(&app.admin_token),
            &serde_json::json!({"code": "91350100M000100Y43", "name": "福州"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_and_slow_requests_are_cut_off() {
    let app = spawn_app_custom(Db::Sqlite, Arc::new(trustd::clock::SystemClock), |s| {
        s.client_timeout_seconds = 1;
        s.request_timeout_seconds = 1;
    })
    .await
    .unwrap();
    let addr = app.address.trim_start_matches("http://").to_owned();
    // A request head that never ends (slowloris): the server gives up on it.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection is closed within the timeout");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    // A body that trickles in for longer than the request may take: 503 request-timeout.
    let mut trickle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    trickle
        .write_all(b"POST /api/v1/verify/pdf HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\nContent-Length: 100000\r\n\r\n%PDF-1.7\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        loop {
            let _ = trickle.write_all(b" ").await;
            match tokio::time::timeout(Duration::from_millis(200), trickle.read(&mut buf)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                Ok(Err(_)) => break,
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(read.is_ok());
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("application/problem+json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_query_strings_are_refused() {
    let app = spawn_app_custom(Db::Sqlite, Arc::new(trustd::clock::SystemClock), |s| {
        s.max_query_bytes = 100;
    })
    .await
    .unwrap();
    let (_, auditor) = app.create_key("auditor", None).await;
    let path = |n: usize| format!("/api/v1/log/search?subject={}", "a".repeat(n));
    // 100 bytes in all ("subject=" is 8) passes, 101 does not.
    assert_eq!(app.get(&path(92), Some(&auditor)).await.status(), 200);
    let p = assert_problem(app.get(&path(93), Some(&auditor)).await, 414).await;
    assert_eq!(p["type"], "/problems/uri-too-long");
    // Public endpoints too, before anything else is done.
    assert_problem(
        app.get(&format!("/v/x?{}", "b".repeat(101)), None).await,
        414,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdf_object_and_signature_counts_are_bounded() {
    let app = spawn_app_custom(Db::Sqlite, Arc::new(trustd::clock::SystemClock), |s| {
        s.max_pdf_signatures = 1;
    })
    .await
    .unwrap();
    let (op, seal) = crate::verify::setup(&app, 30).await;
    let once = crate::verify::stamp(&app, &op, &seal, "B-B", crate::stamp::sample_pdf(1)).await;
    let twice = crate::verify::stamp(&app, &op, &seal, "B-B", once.clone()).await;
    assert!(crate::stamp::verify_report(&app, &once).await.is_ok());
    let p = assert_problem(crate::stamp::post_verify(&app, &twice).await, 422).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("more than 1 signatures"),
        "{p}"
    );

    // An installation that allows fewer objects than the sample holds refuses to stamp it
    // and to verify it; the same file passes with the default.
    let strict = spawn_app_custom(Db::Sqlite, Arc::new(trustd::clock::SystemClock), |s| {
        s.max_pdf_objects = 5;
    })
    .await
    .unwrap();
    let (op, seal) = crate::verify::setup(&strict, 31).await;
    let resp = crate::stamp::post_pdf(&strict, &op, &seal, "", crate::stamp::sample_pdf(3)).await;
    let p = assert_problem(resp, 422).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("more than 5 objects"),
        "{p}"
    );
    assert_eq!(crate::stamp::verify_report(&strict, &twice).await, Err(422));
    assert!(
        crate::stamp::verify_report(&app, &crate::stamp::sample_pdf(3))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_work_is_capped_and_public_uploads_are_smaller() {
    let app = spawn_app_custom(Db::Sqlite, Arc::new(trustd::clock::SystemClock), |s| {
        s.max_concurrent_documents = 1;
        s.max_public_verify_bytes = 2000;
    })
    .await
    .unwrap();
    let (op, seal) = crate::verify::setup(&app, 32).await;
    let sealed = crate::verify::stamp(&app, &op, &seal, "B-B", crate::stamp::sample_pdf(1)).await;
    assert!(sealed.len() > 2000);
    // The public gets 413 for a PDF larger than its limit; a caller with a key does not.
    assert_problem(crate::stamp::post_verify(&app, &sealed).await, 413).await;
    let (_, auditor) = app.create_key("auditor", None).await;
    let with_key = |pdf: Vec<u8>| {
        app.client
            .post(app.url("/api/v1/verify/pdf"))
            .bearer_auth(&auditor)
            .header("content-type", "application/pdf")
            .body(pdf)
            .send()
    };
    assert_eq!(with_key(sealed.clone()).await.unwrap().status(), 200);
    // While the only slot for document work is taken, stamping and verification get 503 with
    // Retry-After; once it is free again they go through.
    let held = app.ctx.documents.try_take().unwrap();
    let resp = with_key(sealed.clone()).await.unwrap();
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_problem(resp, 503).await;
    let resp = crate::stamp::post_pdf(&app, &op, &seal, "", crate::stamp::sample_pdf(1)).await;
    assert_problem(resp, 503).await;
    drop(held);
    assert_eq!(with_key(sealed).await.unwrap().status(), 200);
    let resp = crate::stamp::post_pdf(&app, &op, &seal, "", crate::stamp::sample_pdf(1)).await;
    assert_eq!(resp.status(), 200);
}
