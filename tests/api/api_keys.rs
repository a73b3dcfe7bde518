use serde_json::{json, Value};

use crate::dual_tests;
use crate::helpers::{assert_problem, credit_code, TestApp, INVALID};

async fn creates_uses_and_revokes_keys(app: TestApp) {
    let code = credit_code(7);
    app.create_department(&code, "七局").await;
    let resp = app
        .post_json(
            "/api/v1/api-keys",
            Some(&app.admin_token),
            &json!({"role": "operator", "department_code": code, "label": "counter 1"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("trustd_"));
    assert_eq!(body["role"], "operator");
    assert_eq!(body["department_code"], code.as_str());
    assert!(body["log_index"].as_u64().is_some());

    // Only the hash is stored.
    let stored = app.ctx.store.api_key(&id).await.unwrap().unwrap();
    assert_eq!(stored.token_hash.len(), 32);
    assert_ne!(stored.token_hash, token.as_bytes());

    // The operator is authenticated (403 on an admin route, not 401).
    assert_problem(app.get("/api/v1/departments", Some(&token)).await, 403).await;

    // Revoke: the key stops working, a second revocation conflicts, unknown ids are 404.
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/api-keys/{id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let resp = app.get("/api/v1/departments", Some(&token)).await;
    assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer");
    assert_problem(resp, 401).await;
    let again = app
        .client
        .delete(app.url(&format!("/api/v1/api-keys/{id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_problem(again, 409).await;
    let unknown = app
        .client
        .delete(app.url("/api/v1/api-keys/0000000000000000"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 404).await;
}

async fn validates_key_requests(app: TestApp) {
    let admin = Some(app.admin_token.as_str());
    let body = assert_problem(
        app.post_json("/api/v1/api-keys", admin, &json!({"role": "operator"}))
            .await,
        INVALID,
    )
    .await;
    assert_eq!(body["field"], "department_code");
    let body = assert_problem(
        app.post_json("/api/v1/api-keys", admin, &json!({"role": "king"}))
            .await,
        INVALID,
    )
    .await;
    assert_eq!(body["field"], "role");
    let body = assert_problem(
        app.post_json(
            "/api/v1/api-keys",
            admin,
            &json!({"role": "operator", "department_code": credit_code(3)}),
        )
        .await,
        INVALID,
    )
    .await;
    assert_eq!(body["field"], "department_code");
    let body = assert_problem(
        app.post_json(
            "/api/v1/api-keys",
            admin,
            &json!({"role": "auditor", "colour": 1}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(body["field"], "colour");
    // An auditor key may be unbound; wrong and malformed tokens are 401.
    app.create_key("auditor", None).await;
    for bad in [
        "trustd_0123456789abcdef_AAAA",
        "nonsense",
        &format!("{}x", app.admin_token),
    ] {
        let resp = app.get("/api/v1/departments", Some(bad)).await;
        assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer");
        assert_problem(resp, 401).await;
    }
    let resp = app
        .client
        .get(app.url("/api/v1/departments"))
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_problem(resp, 401).await;
}

dual_tests!(creates_uses_and_revokes_keys, validates_key_requests);
