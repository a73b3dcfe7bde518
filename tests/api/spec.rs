//! The contract: api-spec/openapi.yaml names exactly the registered routes, and is served
//! byte-identical.

use std::collections::BTreeSet;

use crate::helpers::{spawn_app, Db};

fn spec_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/api-spec/openapi.yaml"
    ))
    .unwrap()
}

#[test]
fn spec_and_routes_agree() {
    let spec: serde_yaml::Value = serde_yaml::from_str(&spec_text()).unwrap();
    assert_eq!(spec["openapi"].as_str(), Some("3.1.0"));
    let mut in_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if ["get", "post", "put", "delete", "patch", "head", "options"].contains(&method) {
                in_spec.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    let registered: BTreeSet<(String, String)> = trustd::http::route_table()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_owned(), p))
        .collect();
    let missing: Vec<_> = registered.difference(&in_spec).collect();
    let extra: Vec<_> = in_spec.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the spec: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "spec names routes that do not exist: {extra:?}"
    );
}

#[tokio::test]
async fn spec_is_served_byte_identical() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let resp = app.get("/api-spec/openapi.yaml", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), spec_text());
}

/// The spec's enums are the service's own lists: event types and roles.
#[test]
fn spec_enums_are_the_services_lists() {
    let spec: serde_yaml::Value = serde_yaml::from_str(&spec_text()).unwrap();
    let listed = |v: &serde_yaml::Value| -> Vec<String> {
        v.as_sequence()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect()
    };
    let events = listed(&spec["components"]["schemas"]["EventType"]["enum"]);
    let ours: Vec<String> = trustd::log::EventType::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    assert_eq!(events, ours);
    let roles = listed(
        &spec["paths"]["/api/v1/api-keys"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["properties"]["role"]["enum"],
    );
    for r in &roles {
        assert!(trustd::auth::Role::parse(r).is_some(), "{r}");
    }
    assert_eq!(roles.len(), 4);
}
