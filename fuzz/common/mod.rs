//! A real installation for the targets that need one: SQLite in a temporary directory, the
//! root CA, one department with an operator key, a licence type and one issued licence. Made
//! once per fuzzing process, through the same HTTP API a department uses.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use trustd::config::{Secret, ServeSettings};
use trustd::context::Context;
use trustd::startup::Application;

pub struct Installation {
    pub rt: tokio::runtime::Runtime,
    pub ctx: Arc<Context>,
    /// A licence token the installation issued (compact JWS).
    pub token: String,
    /// The same licence's SD-JWT, with every disclosure.
    pub sd_jwt: String,
    /// The token's x5c: the licence signer's certificate and the department CA (DER).
    pub chain: Vec<Vec<u8>>,
    /// The root CA (DER).
    pub root: Vec<u8>,
    _dir: tempfile::TempDir,
}

const DEPARTMENT: &str = "91350100M000100Y43";

pub fn installation() -> &'static Installation {
    static INSTALLATION: OnceLock<Installation> = OnceLock::new();
    INSTALLATION.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temporary directory");
        let admin = "fuzz-admin-token-0123456789abcdef0123456789";
        let mut settings = ServeSettings::for_data_dir(dir.path());
        settings.master_key = Some(Secret::new(
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ));
        settings.admin_token = Some(Secret::new(admin));
        settings.public_rate = 0;
        let (ctx, token) = rt.block_on(async {
            let app = Application::build(settings).await.expect("installation");
            let base = format!("http://127.0.0.1:{}", app.port());
            let ctx = app.context();
            tokio::spawn(app.run_until_stopped());
            let client = reqwest::Client::new();
            let post = |path: &str, token: &str, body: Value| {
                let req = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(token)
                    .json(&body);
                async move {
                    let resp = req.send().await.expect("request");
                    assert!(resp.status().is_success(), "{}", resp.status());
                    resp.json::<Value>().await.expect("json")
                }
            };
            post(
                "/api/v1/departments",
                admin,
                json!({"code": DEPARTMENT, "name": "福州市公安局"}),
            )
            .await;
            let key = post(
                "/api/v1/api-keys",
                admin,
                json!({"role": "operator", "department_code": DEPARTMENT, "label": "fuzz"}),
            )
            .await;
            let op = key["token"].as_str().expect("token").to_owned();
            let t = post(
                "/api/v1/licence-types",
                &op,
                json!({"name": "居住证", "holder_kind": "person", "validity_days": 365,
                       "fields": [{"key": "address", "label": "居住地址", "required": true}]}),
            )
            .await;
            let licence = post(
                "/api/v1/licences",
                &op,
                json!({"type_code": t["type_code"],
                       "holder": {"name": "张三丰", "code_type": "111", "code": "11010519491231002X"},
                       "face": {"address": "福州市鼓楼区五四路 1 号"}, "area_code": "350102"}),
            )
            .await;
            let token = licence["token"].as_str().expect("licence token").to_owned();
            let sd_jwt = licence["sd_jwt"].as_str().expect("licence SD-JWT").to_owned();
            (ctx, (token, sd_jwt))
        });
        let (token, sd_jwt) = token;
        let decoded = trustd::licence::token::decode(&token).expect("own token");
        let root = rt
            .block_on(ctx.pki.root())
            .expect("root certificate")
            .der;
        Installation {
            rt,
            ctx,
            token,
            sd_jwt,
            chain: decoded.chain,
            root,
            _dir: dir,
        }
    })
}
