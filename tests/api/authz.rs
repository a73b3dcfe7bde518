//! The authorisation matrix: every route × {no key, revoked key, admin, operator of department
//! A, operator of department B, auditor, auditor bound to department B} gets the expected status; a monitor key reads
//! `/metrics` and is refused everything else that needs a key.

use reqwest::Method;
use serde_json::{json, Value};

use crate::dual_tests;
use crate::helpers::{credit_code, TestApp};

struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    /// Expected status for: none, revoked, admin, operator A, operator B, auditor, auditor of B.
    expect: [u16; 7],
}

const PUBLIC: [u16; 7] = [200; 7];
const ADMIN_ONLY: [u16; 7] = [401, 401, 200, 403, 403, 403, 403];
const AUDITOR_ONLY: [u16; 7] = [401, 401, 403, 403, 403, 200, 200];

async fn authorisation_matrix(app: TestApp) {
    let a = credit_code(100);
    let b = credit_code(200);
    app.create_department(&a, "甲局").await;
    app.create_department(&b, "乙局").await;
    let c = credit_code(400);
    app.create_department(&c, "丙局").await;
    let (_, op_a) = app.create_key("operator", Some(&a)).await;
    let (_, op_b) = app.create_key("operator", Some(&b)).await;
    let (_, auditor) = app.create_key("auditor", None).await;
    let (_, auditor_b) = app.create_key("auditor", Some(&b)).await;
    let (revoked_id, revoked) = app.create_key("operator", Some(&a)).await;
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/api-keys/{revoked_id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (victim, _) = app.create_key("auditor", None).await;
    let (_, monitor) = app.create_key("monitor", None).await;
    // Licences of department A: one to read, one to suspend, one suspended to reinstate, one to revoke.
    let type_body =
        json!({"name": "证", "holder_kind": "person", "fields": [{"key": "a", "label": "A"}]});
    let t: Value = app
        .post_json("/api/v1/licence-types", Some(&op_a), &type_body)
        .await
        .json()
        .await
        .unwrap();
    let type_code = t["type_code"].as_str().unwrap().to_owned();
    let licence = json!({"type_code": type_code, "holder": {"name": "张三", "code_type": "111", "code": "11010519491231002X"}});
    let mut ids = Vec::new();
    for _ in 0..4 {
        let l: Value = app
            .post_json("/api/v1/licences", Some(&op_a), &licence)
            .await
            .json()
            .await
            .unwrap();
        ids.push(l["identifier"].as_str().unwrap().to_owned());
    }
    let seal: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op_a),
            &json!({"name": "甲局公章", "kind": "official"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let seal_a = seal["id"].as_str().unwrap().to_owned();
    let reason = json!({"reason": "test"});
    let resp = app
        .post_json(
            &format!("/api/v1/licences/{}/suspend", ids[2]),
            Some(&op_a),
            &reason,
        )
        .await;
    assert_eq!(resp.status(), 200);
    app.wait_for_checkpoint().await;

    let created = |s: [u16; 7]| s.map(|x| if x == 200 { 201 } else { x });
    let cases = vec![
        Case {
            method: Method::GET,
            path: "/healthz".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/readyz".into(),
            body: None,
            expect: PUBLIC,
        },
        // Metrics need an admin or a monitor key (the monitor is checked below).
        Case {
            method: Method::GET,
            path: "/metrics".into(),
            body: None,
            expect: ADMIN_ONLY,
        },
        Case {
            method: Method::GET,
            path: "/api-spec/openapi.yaml".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::POST,
            path: "/api/v1/departments".into(),
            body: Some(json!({"code": credit_code(300), "name": "丙局"})),
            expect: created(ADMIN_ONLY),
        },
        Case {
            method: Method::GET,
            path: "/api/v1/departments".into(),
            body: None,
            expect: ADMIN_ONLY,
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/departments/{a}"),
            body: None,
            expect: ADMIN_ONLY,
        },
        Case {
            method: Method::POST,
            path: "/api/v1/api-keys".into(),
            body: Some(json!({"role": "auditor"})),
            expect: created(ADMIN_ONLY),
        },
        Case {
            method: Method::DELETE,
            path: format!("/api/v1/api-keys/{victim}"),
            body: None,
            expect: ADMIN_ONLY,
        },
        Case {
            method: Method::GET,
            path: "/ca/root.pem".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: format!("/ca/{b}.pem"),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/log/checkpoint".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/log/key".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/log/proof/inclusion?index=0&size=2".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/log/proof/consistency?from=1&to=2".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/log/entries?start=0&end=5".into(),
            body: None,
            expect: AUDITOR_ONLY,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/log/search?limit=5".into(),
            body: None,
            expect: AUDITOR_ONLY,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/log/export".into(),
            body: None,
            expect: AUDITOR_ONLY,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/log/witnesses".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/log/shards".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/log/proofs/1".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/log/checkpoint".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/log/tile/0/000.p/1".into(),
            body: None,
            expect: PUBLIC,
        },
        // Entry bundles: auditors bound to no department only (they hold every department's
        // entries).
        Case {
            method: Method::GET,
            path: "/log/tile/entries/000.p/1".into(),
            body: None,
            expect: [401, 401, 403, 403, 403, 200, 403],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/licence-types".into(),
            body: Some(type_body.clone()),
            expect: [401, 401, 403, 201, 201, 403, 403],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/licence-types".into(),
            body: None,
            expect: [401, 401, 200, 200, 200, 200, 200],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/licences".into(),
            body: Some(licence.clone()),
            expect: [401, 401, 403, 201, 403, 403, 403],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/licences?holder_code=11010519491231002X&purpose=check".into(),
            body: None,
            expect: [401, 401, 403, 200, 200, 200, 200],
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/licences/{}", ids[0]),
            body: None,
            expect: [401, 401, 403, 200, 422, 422, 403],
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/licences/{}?purpose=check", ids[0]),
            body: None,
            expect: [401, 401, 403, 200, 200, 200, 403],
        },
        Case {
            method: Method::POST,
            path: format!("/api/v1/licences/{}/suspend", ids[1]),
            body: Some(reason.clone()),
            expect: [401, 401, 403, 200, 403, 403, 403],
        },
        Case {
            method: Method::POST,
            path: format!("/api/v1/licences/{}/reinstate", ids[2]),
            body: Some(reason.clone()),
            expect: [401, 401, 403, 200, 403, 403, 403],
        },
        Case {
            method: Method::POST,
            path: format!("/api/v1/licences/{}/revoke", ids[3]),
            body: Some(reason.clone()),
            expect: [401, 401, 403, 200, 403, 403, 403],
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/licences/{}/qr.svg", ids[0]),
            body: None,
            expect: [401, 401, 403, 200, 403, 403, 403],
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/licences/{}/qr.png", ids[0]),
            body: None,
            expect: [401, 401, 403, 200, 403, 403, 403],
        },
        // The proof of logging names no person: anyone.
        Case {
            method: Method::GET,
            path: format!("/api/v1/licences/{}/log-proof", ids[0]),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::POST,
            path: format!("/api/v1/licences/{}/presentations", ids[0]),
            body: Some(json!({"disclose": ["holder.name"]})),
            expect: [401, 401, 403, 200, 403, 403, 403],
        },
        Case {
            method: Method::GET,
            path: format!("/v/{}", ids[0]),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/public/licences/{}", ids[0]),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/public/licences/{}/token", ids[0]),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/api/v1/public/jwks.json".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::POST,
            path: "/api/v1/verify/licence".into(),
            body: Some(json!({"identifier": ids[0]})),
            expect: PUBLIC,
        },
        Case {
            method: Method::POST,
            path: "/tsa".into(),
            body: None,
            expect: [415; 7],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/seals".into(),
            body: Some(json!({"name": "章", "kind": "official"})),
            expect: [401, 401, 403, 201, 201, 403, 403],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/seals".into(),
            body: None,
            expect: [401, 401, 403, 200, 200, 403, 403],
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/seals/{seal_a}"),
            body: None,
            expect: [401, 401, 403, 200, 404, 403, 403],
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/seals/{seal_a}/appearance.svg"),
            body: None,
            expect: [401, 401, 403, 200, 404, 403, 403],
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/seals/{seal_a}/esl"),
            body: None,
            expect: [401, 401, 403, 200, 404, 403, 403],
        },
        Case {
            method: Method::PUT,
            path: format!("/api/v1/seals/{seal_a}/appearance"),
            body: None,
            expect: [401, 401, 403, 415, 404, 403, 403],
        },
        Case {
            method: Method::GET,
            path: format!("/api/v1/seals/{seal_a}/appearance/pending.png"),
            body: None,
            expect: [401, 401, 404, 404, 404, 403, 403],
        },
        Case {
            method: Method::POST,
            path: format!("/api/v1/seals/{seal_a}/appearance/approve"),
            body: Some(json!({"image_sha256": "00".repeat(32)})),
            expect: [401, 401, 404, 403, 403, 403, 403],
        },
        Case {
            method: Method::POST,
            path: format!("/api/v1/seals/{seal_a}/stamp"),
            body: None,
            expect: [401, 401, 403, 415, 404, 403, 403],
        },
        Case {
            method: Method::POST,
            path: "/ocsp".into(),
            body: None,
            expect: [415; 7],
        },
        Case {
            method: Method::GET,
            path: "/ocsp/AAAA".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: "/crl/root.crl".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::GET,
            path: format!("/crl/{b}.crl"),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::POST,
            path: "/api/v1/verify/pdf".into(),
            body: None,
            expect: [415; 7],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/verify/ofd".into(),
            body: None,
            expect: [415; 7],
        },
        Case {
            method: Method::GET,
            path: "/api/v1/trust-anchors".into(),
            body: None,
            expect: PUBLIC,
        },
        Case {
            method: Method::POST,
            path: "/api/v1/trust-anchors".into(),
            body: Some(json!({"label": "x", "pem": "not a certificate"})),
            expect: [401, 401, 422, 403, 403, 403, 403],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/trust-anchors/ta_0000000000000000/disable".into(),
            body: None,
            expect: [401, 401, 404, 403, 403, 403, 403],
        },
        Case {
            method: Method::POST,
            path: "/api/v1/trust-anchors/ta_0000000000000000/enable".into(),
            body: None,
            expect: [401, 401, 404, 403, 403, 403, 403],
        },
        Case {
            method: Method::DELETE,
            path: "/api/v1/trust-anchors/ta_0000000000000000".into(),
            body: None,
            expect: [401, 401, 404, 403, 403, 403, 403],
        },
        // Revocations last: they change what later requests would see.
        Case {
            method: Method::POST,
            path: format!("/api/v1/seals/{seal_a}/revoke"),
            body: Some(json!({"reason": "superseded"})),
            expect: [401, 401, 403, 200, 404, 403, 403],
        },
        Case {
            method: Method::POST,
            path: format!("/api/v1/departments/{c}/ca/revoke"),
            body: Some(json!({"reason": "cessationOfOperation"})),
            expect: ADMIN_ONLY,
        },
        // Its CA just revoked, department C gets a new one (admin only).
        Case {
            method: Method::POST,
            path: format!("/api/v1/departments/{c}/ca"),
            body: None,
            expect: [401, 401, 201, 403, 403, 403, 403],
        },
    ];
    // Every registered route is in the matrix.
    for (method, path) in trustd::http::route_table() {
        let covered = cases.iter().any(|c| {
            c.method.as_str() == method.as_str()
                && route_matches(&path, c.path.split('?').next().unwrap_or_default())
        });
        assert!(
            covered,
            "route {method} {path} is missing from the authorisation matrix"
        );
    }
    let callers: [Option<&str>; 7] = [
        None,
        Some(&revoked),
        Some(&app.admin_token),
        Some(&op_a),
        Some(&op_b),
        Some(&auditor),
        Some(&auditor_b),
    ];
    let names = [
        "no key",
        "revoked key",
        "admin",
        "operator A",
        "operator B",
        "auditor",
        "auditor of B",
    ];
    for case in &cases {
        for (i, caller) in callers.iter().enumerate() {
            let mut req = app.client.request(case.method.clone(), app.url(&case.path));
            if let Some(t) = caller {
                req = req.bearer_auth(t);
            }
            if let Some(b) = &case.body {
                req = req.json(b);
            }
            let status = req.send().await.unwrap().status().as_u16();
            assert_eq!(
                status, case.expect[i],
                "{} {} as {}",
                case.method, case.path, names[i]
            );
        }
    }
    // The monitor: what everyone gets it gets too; /metrics it may read; every other route
    // that needs a key refuses it (so the revocations the matrix made change nothing here).
    for case in &cases {
        let mut req = app.client.request(case.method.clone(), app.url(&case.path));
        req = req.bearer_auth(&monitor);
        if let Some(b) = &case.body {
            req = req.json(b);
        }
        let status = req.send().await.unwrap().status().as_u16();
        let everyone = case.expect.iter().all(|e| *e == case.expect[0]);
        if everyone {
            assert_eq!(
                status, case.expect[0],
                "{} {} as monitor",
                case.method, case.path
            );
        } else if case.path == "/metrics" {
            assert_eq!(status, 200, "GET /metrics as monitor");
        } else {
            assert!(
                status == 403 || status == 404,
                "{} {} as monitor: {status}",
                case.method,
                case.path
            );
        }
    }
}

/// Routes whose last parameter takes the rest of the path, slashes included.
const CATCH_ALL: &[&str] = &["/log/tile/{tile}", "/ocsp/{request}"];

/// Whether a concrete path matches a route template like `/ca/{ca}.pem`.
fn route_matches(template: &str, path: &str) -> bool {
    if CATCH_ALL.contains(&template) {
        let prefix = template.trim_end_matches(|c| c != '/');
        return path.len() > prefix.len() && path.starts_with(prefix);
    }
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| match (t.find('{'), t.find('}')) {
                (Some(open), Some(close)) => {
                    p.starts_with(&t[..open]) && p.ends_with(&t[close + 1..]) && p.len() > open
                }
                _ => t == p,
            })
}

dual_tests!(authorisation_matrix);
