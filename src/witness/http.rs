//! The witness's HTTP interface: `POST /add-checkpoint` (c2sp.org/tlog-witness), `GET /vkey`,
//! `GET /healthz`. Errors are problem+json (the specification fixes only the status codes),
//! except 409, whose `text/x.tlog.size` body the specification fixes.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};

use super::{Witness, WitnessError, WitnessStartError};
use crate::config::WitnessSettings;
use crate::keys::vault::{master_key_file, MasterKey};

/// Largest add-checkpoint body: 63 proof lines and a note with its signatures fit in far less.
const MAX_BODY: usize = 64 * 1024;

/// A running witness.
pub struct WitnessServer {
    port: u16,
    server: Server,
    witness: Arc<Witness>,
}

impl std::fmt::Debug for WitnessServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl WitnessServer {
    pub async fn build(settings: &WitnessSettings) -> Result<WitnessServer, WitnessStartError> {
        let dir = &settings.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| WitnessStartError::Config(format!("{}: {e}", dir.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| WitnessStartError::Config(format!("{}: {e}", dir.display())))?;
        }
        let given = match &settings.master_key_file {
            Some(path) => {
                Some(crate::config::read_secret_file(path).map_err(WitnessStartError::Key)?)
            }
            None => settings.master_key.clone(),
        };
        let vault = match given {
            Some(k) => MasterKey::from_base64(k.expose())
                .map_err(|e| WitnessStartError::Key(e.to_string()))?,
            None => {
                master_key_file(&dir.join("master.key"))
                    .map_err(|e| WitnessStartError::Key(e.to_string()))?
                    .0
            }
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let witness =
            Witness::open(dir, settings.name.as_deref(), &settings.logs, &vault, now).await?;
        let listener = TcpListener::bind(settings.listen)
            .map_err(|e| WitnessStartError::Bind(settings.listen.to_string(), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| WitnessStartError::Bind(settings.listen.to_string(), e))?
            .port();
        let data = web::Data::from(witness.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .service(
                    web::resource("/add-checkpoint")
                        .route(web::post().to(add_checkpoint))
                        .default_service(web::to(|| async {
                            problem(
                                StatusCode::METHOD_NOT_ALLOWED,
                                "method-not-allowed",
                                "POST only",
                            )
                        })),
                )
                .route("/vkey", web::get().to(vkey))
                .route("/healthz", web::get().to(|| async { "ok\n" }))
                .route("/{origin_hash}/checkpoint", web::get().to(latest))
        })
        .workers(2)
        .shutdown_timeout(5)
        .client_request_timeout(std::time::Duration::from_secs(10))
        .listen(listener)
        .map_err(|e| WitnessStartError::Bind(settings.listen.to_string(), e))?
        .run();
        tracing::info!(port, vkey = %witness.vkey(), "trustd witness listening");
        Ok(WitnessServer {
            port,
            server,
            witness,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn vkey(&self) -> String {
        self.witness.vkey()
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn vkey(witness: web::Data<Witness>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{}\n", witness.vkey()))
}

async fn add_checkpoint(witness: web::Data<Witness>, body: web::Bytes) -> HttpResponse {
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    match witness.add_checkpoint(&body, now).await {
        Ok(line) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(line),
        Err(WitnessError::Conflict(size)) => HttpResponse::Conflict()
            .content_type("text/x.tlog.size")
            .body(format!("{size}\n")),
        Err(e) => {
            let (status, kind) = match &e {
                WitnessError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid-request"),
                WitnessError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                WitnessError::UnknownOrigin(_) => (StatusCode::NOT_FOUND, "unknown-log"),
                WitnessError::Inconsistent(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "inconsistent-checkpoint")
                }
                WitnessError::Unavailable(_) | WitnessError::Conflict(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                }
            };
            problem(status, kind, &e.to_string())
        }
    }
}

/// `GET /<hex SHA-256 of the origin>/checkpoint`: the latest checkpoint this witness cosigned
/// for that log (c2sp.org/tlog-witness, monitoring).
async fn latest(witness: web::Data<Witness>, path: web::Path<String>) -> HttpResponse {
    match witness.latest(&path).await {
        Ok(Some(note)) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .insert_header(("Cache-Control", "no-cache"))
            .body(note),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "no checkpoint cosigned for this origin",
        ),
        Err(e) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            &e.to_string(),
        ),
    }
}

fn problem(status: StatusCode, kind: &str, detail: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response.insert_header(("Allow", "POST"));
    }
    response
        .content_type("application/problem+json")
        .json(serde_json::json!({
            "type": format!("/problems/{kind}"),
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": detail,
        }))
}
