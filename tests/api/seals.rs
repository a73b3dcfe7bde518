//! Seal management: each seal has its own certificate under the department CA; another
//! department's seal is invisible and unusable.

use serde_json::{json, Value};
use x509_parser::prelude::*;

use crate::dual_tests;
use crate::helpers::{assert_problem, credit_code, TestApp, INVALID};

async fn creates_and_shows_seals(app: TestApp) {
    let a = credit_code(10);
    let b = credit_code(20);
    app.create_department(&a, "福州市人民政府").await;
    app.create_department(&b, "福州市财政局").await;
    let (_, op_a) = app.create_key("operator", Some(&a)).await;
    let (_, op_b) = app.create_key("operator", Some(&b)).await;
    let resp = app
        .post_json(
            "/api/v1/seals",
            Some(&op_a),
            &json!({"name": "福州市人民政府公章", "kind": "official"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let seal: Value = resp.json().await.unwrap();
    let id = seal["id"].as_str().unwrap().to_owned();
    assert_eq!(seal["department_code"], a.as_str());
    assert_eq!(seal["status"], "valid");
    assert!(seal["log_index"].as_u64().is_some());

    // The certificate: under the department CA, digitalSignature + nonRepudiation, not a CA,
    // O and organizationIdentifier of the department, CN the seal name, CRL and OCSP URLs.
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(seal["certificate_pem"].as_str().unwrap().as_bytes())
            .unwrap();
    let (_, cert) = X509Certificate::from_der(&pem.contents).unwrap();
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.non_repudiation() && !ku.key_cert_sign());
    assert!(!cert
        .basic_constraints()
        .unwrap()
        .map(|b| b.value.ca)
        .unwrap_or(false));
    assert_eq!(
        cert.subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap(),
        "福州市人民政府公章"
    );
    assert_eq!(
        cert.subject()
            .iter_organization()
            .next()
            .unwrap()
            .as_str()
            .unwrap(),
        "福州市人民政府"
    );
    assert!(cert
        .subject()
        .iter_attributes()
        .any(|x| x.attr_type().to_id_string() == "2.5.4.97" && x.as_str().unwrap() == a));
    let crl_ok = cert
        .extensions()
        .iter()
        .any(|e| match e.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(points) => {
                format!("{points:?}").contains(&format!("/crl/{a}.crl"))
            }
            _ => false,
        });
    assert!(crl_ok, "CRL distribution point of the department CA");
    let dept_ca = app
        .get(&format!("/ca/{a}.pem"), None)
        .await
        .text()
        .await
        .unwrap();
    let root = app.get("/ca/root.pem", None).await.text().await.unwrap();
    let der = |p: &str| {
        x509_parser::pem::parse_x509_pem(p.as_bytes())
            .unwrap()
            .1
            .contents
    };
    let now = ::time::OffsetDateTime::now_utc().unix_timestamp();
    trustd::pki::chain::verify_chain(&[pem.contents.clone(), der(&dept_ca)], &[der(&root)], now)
        .unwrap();

    // Listing and reading are per department.
    let list: Value = app
        .get("/api/v1/seals", Some(&op_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let list: Value = app
        .get("/api/v1/seals", Some(&op_b))
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    assert_eq!(
        app.get(&format!("/api/v1/seals/{id}"), Some(&op_a))
            .await
            .status(),
        200
    );
    assert_problem(
        app.get(&format!("/api/v1/seals/{id}"), Some(&op_b)).await,
        404,
    )
    .await;
    assert_problem(
        app.get("/api/v1/seals/seal_0000000000000000", Some(&op_a))
            .await,
        404,
    )
    .await;

    // The appearance: a red round seal with the department name and the kind, drawn as glyph
    // outlines (named in the title for screen readers).
    let svg = app
        .get(&format!("/api/v1/seals/{id}/appearance.svg"), Some(&op_a))
        .await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.text().await.unwrap();
    assert!(
        svg.contains("<circle")
            && svg.contains("<title>福州市人民政府 公章</title>")
            && svg.contains("<path fill=\"#d7000f\"")
    );
    let outline = svg.split(" d=\"").nth(1).unwrap();
    assert!(
        outline.matches(['L', 'C']).count() > 9 * 20,
        "seven characters and two more drawn as outlines"
    );
    assert_problem(
        app.get(&format!("/api/v1/seals/{id}/appearance.svg"), Some(&op_b))
            .await,
        404,
    )
    .await;

    // Logged.
    let (_, auditor) = app.create_key("auditor", None).await;
    let found: Value = app
        .get(
            &format!("/api/v1/log/search?type=seal.created&subject={id}"),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["entries"].as_array().unwrap().len(), 1);
}

async fn refuses_bad_seals(app: TestApp) {
    let a = credit_code(10);
    app.create_department(&a, "甲").await;
    let (_, op_a) = app.create_key("operator", Some(&a)).await;
    for (body, field) in [
        (json!({"name": "x", "kind": "magic"}), "kind"),
        (json!({"name": "", "kind": "official"}), "name"),
        (
            json!({"name": "x", "kind": "official", "valid_days": 0}),
            "valid_days",
        ),
        (json!({"name": "x"}), "kind"),
        (
            json!({"name": "x", "kind": "official", "colour": "red"}),
            "colour",
        ),
    ] {
        let problem = assert_problem(
            app.post_json("/api/v1/seals", Some(&op_a), &body).await,
            INVALID,
        )
        .await;
        assert_eq!(problem["field"], field);
    }
    let body = json!({"name": "x", "kind": "official"});
    assert_problem(
        app.post_json("/api/v1/seals", Some(&app.admin_token), &body)
            .await,
        403,
    )
    .await;
    let list: Value = app
        .get("/api/v1/seals", Some(&op_a))
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
}

dual_tests!(creates_and_shows_seals, refuses_bad_seals);
