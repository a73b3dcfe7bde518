use serde_json::{json, Value};
use x509_parser::prelude::*;

use crate::dual_tests;
use crate::helpers::{assert_problem, credit_code, TestApp};

const OID_ORG_ID: &str = "2.5.4.97";

fn parse_pem(pem: &str) -> Vec<u8> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    p.contents
}

async fn creates_department_with_its_ca(app: TestApp) {
    let code = "91350100M000100Y43";
    let body = app.create_department(code, "福州市市场监督管理局").await;
    assert_eq!(body["code"], code);
    assert_eq!(body["name"], "福州市市场监督管理局");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(body["log_index"].as_u64().is_some());

    let der = parse_pem(body["ca_certificate_pem"].as_str().unwrap());
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    // Issued by the root, pathLen 0, keyCertSign + cRLSign.
    let root_pem = app.get("/ca/root.pem", None).await.text().await.unwrap();
    let root_der = parse_pem(&root_pem);
    let (_, root) = X509Certificate::from_der(&root_der).unwrap();
    assert_eq!(cert.issuer(), root.subject());
    cert.verify_signature(Some(root.public_key())).unwrap();
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
    // O = name, organizationIdentifier = code.
    let org: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(org, vec!["福州市市场监督管理局".to_owned()]);
    let org_id = cert
        .subject()
        .iter_attributes()
        .find(|a| a.attr_type().to_id_string() == OID_ORG_ID)
        .unwrap();
    assert_eq!(org_id.as_str().unwrap(), code);
    // AKI = root SKI; SKI present.
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.clone(),
            _ => None,
        })
        .unwrap();
    let root_ski = root
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(aki.0, root_ski.0);
    assert!(cert.extensions().iter().any(|e| matches!(
        e.parsed_extension(),
        ParsedExtension::SubjectKeyIdentifier(_)
    )));
    // Random positive serial of at least 64 bits; CRL and OCSP URLs.
    let serial = cert.raw_serial();
    assert!(
        serial[0] & 0x80 == 0 && serial.len() >= 9,
        "serial {serial:02x?}"
    );
    assert_eq!(hex::encode(serial), body["ca_serial"]);
    let crl = cert.extensions().iter().any(|e| {
        matches!(
            e.parsed_extension(),
            ParsedExtension::CRLDistributionPoints(_)
        )
    });
    let aia = cert.extensions().iter().any(|e| {
        matches!(
            e.parsed_extension(),
            ParsedExtension::AuthorityInfoAccess(_)
        )
    });
    assert!(crl && aia);

    // The same certificate is served at /ca/{code}.pem and in GET /departments/{code}.
    let served = app.get(&format!("/ca/{code}.pem"), None).await;
    assert_eq!(served.status(), 200);
    assert_eq!(parse_pem(&served.text().await.unwrap()), der);
    let one: Value = app
        .get(
            &format!("/api/v1/departments/{code}"),
            Some(&app.admin_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["ca_certificate_pem"], body["ca_certificate_pem"]);
    assert_problem(
        app.get(
            &format!("/api/v1/departments/{}", credit_code(9)),
            Some(&app.admin_token),
        )
        .await,
        404,
    )
    .await;
    assert_problem(app.get("/ca/nope.pem", None).await, 404).await;
}

async fn refuses_bad_and_duplicate_departments(app: TestApp) {
    let token = Some(app.admin_token.as_str());
    let wrong_check = app
        .post_json(
            "/api/v1/departments",
            token,
            &json!({"code": "91350100M000100Y44", "name": "x"}),
        )
        .await;
    let body = assert_problem(wrong_check, 422).await;
    assert_eq!(body["field"], "code");
    assert!(body["detail"].as_str().unwrap().contains("check character"));
    let body = assert_problem(
        app.post_json("/api/v1/departments", token, &json!({"code": "9135"}))
            .await,
        400,
    )
    .await;
    assert_eq!(body["field"], "name");
    let body = assert_problem(
        app.post_json(
            "/api/v1/departments",
            token,
            &json!({"code": credit_code(1), "name": "  "}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(body["field"], "name");
    let body = assert_problem(
        app.post_json(
            "/api/v1/departments",
            token,
            &json!({"code": 5, "name": "x"}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(body["field"], "code");

    app.create_department(&credit_code(1), "一局").await;
    let dup = app
        .post_json(
            "/api/v1/departments",
            token,
            &json!({"code": credit_code(1), "name": "另一个"}),
        )
        .await;
    assert_problem(dup, 409).await;
    // The refused attempts left nothing behind: one department, one CA.
    let list: Value = app
        .get("/api/v1/departments", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn lists_departments_with_a_cursor(app: TestApp) {
    for n in 1..=5 {
        app.create_department(&credit_code(n), &format!("部门{n}"))
            .await;
    }
    let token = Some(app.admin_token.as_str());
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/departments?limit=2&cursor={c}"),
            None => "/api/v1/departments?limit=2".to_owned(),
        };
        let page: Value = app.get(&path, token).await.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["code"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = (1..=5).map(credit_code).collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert_problem(app.get("/api/v1/departments?limit=0", token).await, 400).await;
    assert_problem(app.get("/api/v1/departments?limit=abc", token).await, 400).await;
    assert_problem(app.get("/api/v1/departments?cursor=%%%", token).await, 422).await;
}

/// Concurrent creations commit together (group commit): a conflicting write fails alone,
/// every other one is acknowledged with its own final log index.
async fn concurrent_creations_fail_alone(app: TestApp) {
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let client = app.client.clone();
        let url = app.url("/api/v1/departments");
        let token = app.admin_token.clone();
        // Half the requests race for one code; the others each have their own.
        let code = if i % 2 == 0 {
            credit_code(500)
        } else {
            credit_code(600 + i)
        };
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"code": code, "name": "并发"}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (i, status, body["log_index"].as_u64())
        }));
    }
    let mut indices = Vec::new();
    let mut shared_created = 0;
    for t in tasks {
        let (i, status, index) = t.await.unwrap();
        if i % 2 == 0 {
            assert!(status == 201 || status == 409, "status {status}");
            if status == 201 {
                shared_created += 1;
            }
        } else {
            assert_eq!(status, 201);
        }
        if status == 201 {
            indices.push(index.unwrap());
        }
    }
    assert_eq!(
        shared_created, 1,
        "exactly one creation of the shared code succeeds"
    );
    indices.sort();
    indices.dedup();
    assert_eq!(
        indices.len(),
        9,
        "each acknowledged write has its own log index"
    );
    let size = app.ctx.store.log_size().await.unwrap();
    let events = app.ctx.store.events(0, size).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.index).collect::<Vec<_>>(),
        (0..size).collect::<Vec<_>>()
    );
    let created = events
        .iter()
        .filter(|e| e.event_type == "department.created")
        .count();
    assert_eq!(created, 9);
}

/// A department whose CA was revoked gets a new one (issue 17): seals made and licences issued
/// afterwards verify under it; the old CA stays revoked; a CA that is not revoked is not
/// replaced.
async fn a_revoked_ca_is_replaced(app: TestApp) {
    let (code, _, op, _, type_code) = crate::licences::setup(&app).await;
    let before =
        crate::licences::issue(&app, &op, &crate::licences::licence_body(&type_code)).await;
    let old: Value = app
        .get(
            &format!("/api/v1/departments/{code}"),
            Some(&app.admin_token),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/departments/{code}/ca");
    assert_problem(app.post_json(&path, Some(&op), &json!({})).await, 403).await;
    let unknown = format!("/api/v1/departments/{}/ca", credit_code(99));
    assert_problem(
        app.post_json(&unknown, Some(&app.admin_token), &json!({}))
            .await,
        404,
    )
    .await;
    let resp = app
        .post_json(
            &format!("{path}/revoke"),
            Some(&app.admin_token),
            &json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let seal = json!({"name": "新章", "kind": "official"});
    assert!(app
        .post_json("/api/v1/seals", Some(&op), &seal)
        .await
        .status()
        .is_client_error());

    let resp = app
        .post_json(&path, Some(&app.admin_token), &json!({}))
        .await;
    assert_eq!(resp.status(), 201);
    let new: Value = resp.json().await.unwrap();
    assert_ne!(new["ca_serial"], old["ca_serial"]);
    assert!(new["log_index"].as_u64().is_some());
    let again: Value = app
        .get(
            &format!("/api/v1/departments/{code}"),
            Some(&app.admin_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["ca_serial"], new["ca_serial"]);

    // Seals and licences work again, under the new CA; what the old one certified does not.
    let resp = app.post_json("/api/v1/seals", Some(&op), &seal).await;
    assert_eq!(resp.status(), 201);
    let seal: Value = resp.json().await.unwrap();
    let resp = crate::stamp::post_pdf(
        &app,
        &op,
        seal["id"].as_str().unwrap(),
        "",
        crate::stamp::sample_pdf(1),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let stamped = resp.bytes().await.unwrap().to_vec();
    let report: Value = app
        .client
        .post(app.url("/api/v1/verify/pdf"))
        .header("content-type", "application/pdf")
        .body(stamped)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["indication"], "TOTAL-PASSED", "{report}");
    let after = crate::licences::issue(&app, &op, &crate::licences::licence_body(&type_code)).await;
    let ok: Value = app
        .post_json(
            "/api/v1/verify/licence",
            None,
            &json!({"token": after["token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&ok["signature_valid"], &ok["chain_valid"]),
        (&json!(true), &json!(true)),
        "{ok}"
    );
    let old_token: Value = app
        .post_json(
            "/api/v1/verify/licence",
            None,
            &json!({"token": before["token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old_token["chain_valid"], false, "{old_token}");
    // Each CA has its own CRL: the revoked one at the department's URL, the new one (the
    // second generation) at its own.
    for name in [code.clone(), format!("{code}.2")] {
        let resp = app.get(&format!("/crl/{name}.crl"), None).await;
        assert_eq!(resp.status(), 200, "{name}");
    }
}

dual_tests!(
    a_revoked_ca_is_replaced,
    concurrent_creations_fail_alone,
    creates_department_with_its_ca,
    refuses_bad_and_duplicate_departments,
    lists_departments_with_a_cursor
);
