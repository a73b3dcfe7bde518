//! Every error is problem+json: unknown routes, wrong methods, oversize and malformed bodies.

use serde_json::json;

use crate::dual_tests;
use crate::helpers::{assert_problem, TestApp};

async fn errors_are_problem_json(app: TestApp) {
    let admin = app.admin_token.as_str();
    assert_problem(app.get("/no/such/route", None).await, 404).await;
    assert_problem(app.get("/api/v1/nothing", Some(admin)).await, 404).await;

    let resp = app.client.put(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.headers().get("allow").unwrap(), "GET");
    assert_problem(resp, 405).await;
    let resp = app
        .client
        .patch(app.url("/api/v1/departments"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("allow").unwrap(), "POST, GET");
    assert_problem(resp, 405).await;

    // Malformed JSON, wrong content type, oversize body.
    let resp = app
        .client
        .post(app.url("/api/v1/departments"))
        .bearer_auth(admin)
        .header("content-type", "application/json")
        .body("{\"code\": ")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 400).await;
    let resp = app
        .client
        .post(app.url("/api/v1/departments"))
        .bearer_auth(admin)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 415).await;
    let huge = json!({"code": "x", "name": "y".repeat(2 * 1024 * 1024)});
    assert_problem(
        app.post_json("/api/v1/departments", Some(admin), &huge)
            .await,
        413,
    )
    .await;
    // No key with a garbage body: 401 first, the body is never read.
    let resp = app
        .client
        .post(app.url("/api/v1/departments"))
        .header("content-type", "application/json")
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401).await;
    // Internal details never leak.
    let body = assert_problem(
        app.get("/api/v1/log/proof/inclusion?index=0&size=999999", None)
            .await,
        422,
    )
    .await;
    let detail = body["detail"].as_str().unwrap().to_lowercase();
    for leak in ["sql", "select", "/tmp", "panicked", "src/"] {
        assert!(!detail.contains(leak), "{detail}");
    }
    // Every response carries a request id.
    assert!(app
        .get("/healthz", None)
        .await
        .headers()
        .contains_key("x-request-id"));
}

async fn operations_endpoints(app: TestApp) {
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    assert_eq!(app.get("/readyz", None).await.status(), 200);
    app.get("/no/such/route", None).await;
    assert_eq!(app.get("/metrics", None).await.status(), 401);
    let metrics = app
        .get("/metrics", Some(&app.admin_token))
        .await
        .text()
        .await
        .unwrap();
    assert!(metrics
        .contains("trustd_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"}"));
    assert!(metrics
        .contains("trustd_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"));
    assert!(metrics
        .contains("trustd_http_request_duration_seconds_bucket{route=\"/readyz\",le=\"+Inf\"}"));
}

dual_tests!(errors_are_problem_json, operations_endpoints);
