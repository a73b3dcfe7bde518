//! Building the application: data directory, master key, database, first-start bootstrap
//! (root CA, log key, admin key), the log integrator and the HTTP server. The listener is
//! bound here, so tests can ask for port 0 and read the port back.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use zeroize::Zeroizing;

use crate::admin::{api_keys, recovery};
use crate::clock::{Clock, SystemClock};
use crate::config::ServeSettings;
use crate::context::Context;
use crate::http;
use crate::http::metrics::Metrics;
use crate::http::middleware::request_middleware;
use crate::keys::vault::{master_key_file, write_private_file, MasterKey};
use crate::keys::KeyAlgorithm;
use crate::log::witnesses::WitnessPolicy;
use crate::log::{Event, EventType, LogError, TransparencyLog, META_LOG_KEY, META_LOG_ORIGIN};
use crate::pki::certificate_event;
use crate::pki::tsa::CurrentTsa;
use crate::pki::{Pki, PkiError, META_ROOT_SERIAL};
use crate::store::{ApiKeyRecord, Change, Repository, SqlStore, StoreError, WriteSet};
use crate::store::{CertKind, Role};

const META_MASTER_KEY_CHECK: &str = "master_key_check";
/// Secret salt of the keyed hashes of personal data (holder codes and names in the log).
const META_PII_SALT: &str = "pii_salt";
const MASTER_KEY_CHECK_BINDING: &str = "trustd:meta:master_key_check";
const MASTER_KEY_CHECK_VALUE: &[u8] = b"trustd master key check v1";
const PII_SALT_BINDING: &str = "trustd:meta:pii_salt";

/// Why the service could not start. Printed to the operator; never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("the national (SM2) hierarchy could not be completed: {0}")]
    National(String),
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("secrets: {0}")]
    Secrets(String),
    #[error("rollback guard: {0}")]
    RolledBack(String),
    #[error("TRUSTD_WITNESSES: {0}")]
    Witnesses(String),
    #[error("the master key does not decrypt this installation's keys: start with the master key it was created with (TRUSTD_MASTER_KEY or <data dir>/master.key)")]
    WrongMasterKey,
    #[error("TRUSTD_ADMIN_TOKEN must be at least 32 characters")]
    AdminTokenTooShort,
    #[error("TRUSTD_ADMIN_TOKEN names an API key that is revoked or not an admin key")]
    AdminTokenClash,
    #[error("database: {0}")]
    Database(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("PKI: {0}")]
    Pki(#[from] PkiError),
    #[error("log: {0}")]
    Log(#[from] LogError),
}

pub struct Application {
    port: u16,
    server: Server,
    context: Arc<Context>,
    integrator: tokio::task::JoinHandle<()>,
    witness_feeder: Option<tokio::task::JoinHandle<()>>,
    tsa_renewer: tokio::task::JoinHandle<()>,
    /// Forgets the in-memory views another instance changed (`watch_views`).
    status_watcher: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Keeps the data directory private (0700) and the files in it that hold secrets or personal
/// data (the SQLite database and its WAL, the admin token) readable by the owner only (0600):
/// looser modes are fixed, and each fix is logged. A master key file that others can read is
/// refused instead: it may already have been copied, so the operator must decide.
#[cfg(unix)]
fn keep_private(settings: &ServeSettings) -> Result<(), StartupError> {
    use std::os::unix::fs::PermissionsExt;
    let fix = |path: &Path, mode: u32| -> Result<(), StartupError> {
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(());
        };
        let current = meta.permissions().mode() & 0o777;
        if current & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(
                |source| StartupError::DataDir {
                    path: path.display().to_string(),
                    source,
                },
            )?;
            tracing::warn!(
                path = %path.display(),
                from = format!("{current:o}"),
                to = format!("{mode:o}"),
                "made private: it was readable by other users"
            );
        }
        Ok(())
    };
    fix(&settings.data_dir, 0o700)?;
    let key = settings.data_dir.join("master.key");
    if let Ok(meta) = std::fs::metadata(&key) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(StartupError::MasterKey(format!(
                "{} is readable by other users (mode {mode:o}); it may have been copied. \
                 If you are sure it was not, run chmod 600 on it and start again",
                key.display()
            )));
        }
    }
    if settings.database_url.is_none() {
        for name in ["trustd.db", "trustd.db-wal", "trustd.db-shm"] {
            fix(&settings.data_dir.join(name), 0o600)?;
        }
    }
    fix(&settings.data_dir.join("admin-token"), 0o600)
}

#[cfg(not(unix))]
fn keep_private(_: &ServeSettings) -> Result<(), StartupError> {
    Ok(())
}

fn load_master_key(settings: &ServeSettings) -> Result<MasterKey, StartupError> {
    if let Some(key) = &settings.master_key {
        return MasterKey::from_base64(key.expose())
            .map_err(|e| StartupError::MasterKey(e.to_string()));
    }
    let path = settings.data_dir.join("master.key");
    let (key, generated) =
        master_key_file(&path).map_err(|e| StartupError::MasterKey(e.to_string()))?;
    if generated {
        tracing::warn!(
            path = %path.display(),
            "generated a master key file; set TRUSTD_MASTER_KEY from a secret store in production and keep a backup"
        );
    }
    Ok(key)
}

/// Writes the generated admin key to `<data dir>/admin-token` (0600) and says where it is; the
/// key itself is printed only on the operator's terminal: standard error that goes to a file,
/// journald or a container log gets where to find it, never the key.
fn announce_admin_token(settings: &ServeSettings, token: &str) -> std::io::Result<()> {
    let path = settings.data_dir.join("admin-token");
    let _ = std::fs::remove_file(&path);
    write_private_file(&path, token.as_bytes())?;
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!(
            "\ntrustd: first start. Admin API key (shown once, also in {}):\n\n    {}\n",
            path.display(),
            token
        );
    } else {
        eprintln!(
            "\ntrustd: first start. The admin API key is in {} (readable by this user only).\n",
            path.display()
        );
    }
    Ok(())
}

/// The issuance log with its key and origin, checkpointed before serving so that a checkpoint
/// always exists.
async fn open_log(
    store: &Arc<dyn Repository>,
    pki: &Pki,
    settings: &ServeSettings,
    clock: &dyn Clock,
) -> Result<Arc<TransparencyLog>, StartupError> {
    let log_key_id = meta_string(store.as_ref(), META_LOG_KEY).await?;
    let origin = meta_string(store.as_ref(), META_LOG_ORIGIN).await?;
    let witnesses = WitnessPolicy::parse(&settings.witnesses, settings.witness_quorum)
        .map_err(StartupError::Witnesses)?;
    let log = Arc::new(
        TransparencyLog::new(store.clone(), pki.signer(&log_key_id).await?, origin)?
            .with_witnesses(witnesses),
    );
    while log.integrate(clock.now()).await?.is_some() {}
    Ok(log)
}

/// What every service receives.
async fn context(
    settings: &ServeSettings,
    store: Arc<dyn Repository>,
    pki: Arc<Pki>,
    log: Arc<TransparencyLog>,
    clock: Arc<dyn Clock>,
    public_url: String,
) -> Result<Context, StartupError> {
    let salt = store
        .meta(META_PII_SALT)
        .await?
        .ok_or_else(|| StoreError::Corrupt("pii salt missing".into()))?;
    let salt = pki
        .vault()
        .open(PII_SALT_BINDING, &salt)
        .map_err(|_| StartupError::WrongMasterKey)?;
    let now = clock.now();
    let (unit, end) = current_tsa(store.as_ref(), &pki, now, CertKind::Tsa).await?;
    let tsa = Arc::new(CurrentTsa::new(CertKind::Tsa, unit, end));
    let (unit, end) = current_tsa(store.as_ref(), &pki, now, CertKind::Sm2Tsa).await?;
    let tsa_sm2 = Arc::new(CurrentTsa::new(CertKind::Sm2Tsa, unit, end));
    Ok(Context {
        tsa,
        tsa_sm2,
        ofd_limits: crate::ofd::OfdLimits::default(),
        store,
        pii: crate::pii::PiiHasher::new(&salt),
        departments: crate::cache::ImmutableCache::new(10_000),
        licence_types: crate::cache::ImmutableCache::new(10_000),
        issuance_index: crate::cache::ImmutableCache::new(100_000),
        licence_views: crate::cache::ViewCache::new(100_000),
        seal_kits: crate::cache::ViewCache::new(10_000),
        api_keys: crate::cache::ViewCache::new(100_000),
        licence_signers: crate::pki::signers::SignerCache::default(),
        pki,
        log,
        clock,
        public_url,
        max_upload_bytes: settings.max_upload_bytes,
        max_public_verify_bytes: settings.max_public_verify_bytes,
        documents: crate::work::Slots::new(settings.max_concurrent_documents),
        pdf_limits: crate::pdf::PdfLimits {
            max_objects: settings.max_pdf_objects,
            max_signatures: settings.max_pdf_signatures,
        },
        readiness: crate::context::Readiness {
            max_integration_seconds: settings.ready_max_integration_seconds,
            min_validity_seconds: settings.ready_min_validity_hours.saturating_mul(3600),
        },
    })
}

/// How often an instance looks for changes made by the others.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Forgets the in-memory views (licences' public view, API keys) that another instance
/// changed: each such change is logged, and the watcher follows the log from the index it has
/// seen (indices are taken under one row lock until commit, so they become visible in order).
/// Runs until aborted; a failed read is retried at the next tick.
async fn watch_views(ctx: Arc<Context>) {
    let mut after = match ctx.store.log_size().await {
        Ok(size) => size.saturating_sub(1),
        Err(_) => 0,
    };
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match ctx.store.view_changes(after, 1000).await {
            Ok(changes) => {
                for (index, event_type, subject) in changes {
                    if event_type.starts_with("api_key.") {
                        ctx.api_keys.forget(&subject);
                    } else if !event_type.starts_with("licence.") {
                        // A seal's or a CA's certificate, a seal's image, a root, the keys.
                        ctx.seal_kits.forget_all();
                        ctx.licence_signers.forget_all();
                    } else {
                        ctx.licence_views.forget(&subject);
                    }
                    after = after.max(index);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading changes for the in-memory views failed"),
        }
    }
}

/// Integrates new log entries and signs checkpoints, every `INTEGRATE_EVERY`.
fn spawn_integrator(
    log: Arc<TransparencyLog>,
    clock: Arc<dyn Clock>,
    data_dir: std::path::PathBuf,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTEGRATE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut written: Option<recovery::HighWater> = None;
        for n in 0u64.. {
            tick.tick().await;
            let checkpointed = match log.integrate(clock.now()).await {
                Ok(c) => c.is_some(),
                Err(e) => {
                    tracing::error!(error = %e, "log integration failed");
                    false
                }
            };
            // After each checkpoint, and every second for CRL numbers (a CRL is signed when
            // it is asked for, with no log entry).
            if checkpointed || n % MARK_EVERY_TICKS == 0 {
                raise_mark(&log, &data_dir, &mut written).await;
            }
        }
    })
}

/// Integrator ticks between two looks at the CRL numbers for the high-water mark.
const MARK_EVERY_TICKS: u64 = 5;

/// Moves the high-water mark up to what the database now holds, if that changed.
async fn raise_mark(
    log: &TransparencyLog,
    data_dir: &Path,
    written: &mut Option<recovery::HighWater>,
) {
    match recovery::current_mark(log.store(), log.origin()).await {
        Ok(Some(mark)) if written.as_ref() != Some(&mark) => {
            match recovery::write_mark(data_dir, &mark) {
                Ok(()) => *written = Some(mark),
                Err(e) => tracing::error!(error = %e, "cannot write the high-water mark"),
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "cannot read the high-water mark's state"),
    }
}

/// Refuses a database behind what this installation published (its high-water mark, or what
/// its witnesses cosigned); otherwise raises the mark to it.
async fn guard_against_rollback(
    store: &Arc<dyn Repository>,
    log: &TransparencyLog,
    data_dir: &Path,
) -> Result<(), StartupError> {
    let db = recovery::current_mark(store.as_ref(), log.origin()).await?;
    let mark = recovery::read_mark(data_dir)
        .map_err(StartupError::RolledBack)?
        .filter(|m| recovery::of_log(m, db.as_ref(), log.origin()));
    let witnessed = if log.witness_policy().is_empty() {
        Vec::new()
    } else {
        log.witnessed_views(&reqwest::Client::new()).await
    };
    if let Some(why) = recovery::behind(db.as_ref(), mark.as_ref(), &witnessed) {
        return Err(StartupError::RolledBack(why));
    }
    if let Some(db) = db {
        recovery::write_mark(data_dir, &db).map_err(StartupError::RolledBack)?;
    }
    Ok(())
}

/// How often the latest checkpoint is offered to the witnesses that have not cosigned it.
const WITNESS_EVERY: Duration = Duration::from_millis(500);

/// Sends each new checkpoint to the configured witnesses (none: no task).
fn spawn_witness_feeder(
    log: Arc<TransparencyLog>,
    clock: Arc<dyn Clock>,
) -> Option<tokio::task::JoinHandle<()>> {
    if log.witness_policy().is_empty() {
        return None;
    }
    // A witness is a configured URL: a redirect elsewhere (another host, http) is not followed.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(WITNESS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = log
                .feed_witnesses(&http, clock.now().unix_timestamp())
                .await
            {
                tracing::error!(error = %e, "witnessing failed");
            }
        }
    }))
}

/// The HTTP server on `listener`: the routes, the middleware and its limits.
fn serve(
    settings: &ServeSettings,
    context: Arc<Context>,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let data = web::Data::from(context);
    let metrics = web::Data::new(Metrics::default());
    let max_upload = settings.max_upload_bytes;
    let limiter = web::Data::new(http::ratelimit::RateLimiter::new(
        settings.public_rate,
        settings.public_burst,
    ));
    let auth_throttle = web::Data::new(http::middleware::AuthThrottle(
        http::ratelimit::RateLimiter::per_minute(settings.auth_failures_per_minute),
    ));
    let client_address = web::Data::new(http::client::ClientAddress::new(
        settings.trusted_proxies.0.clone(),
        settings.proxy_header,
    ));
    let json_limit = web::Data::new(http::json::JsonLimit(settings.max_json_bytes));
    let request_timeout = web::Data::new(http::middleware::RequestTimeout(
        std::time::Duration::from_secs(settings.request_timeout_seconds.max(1)),
    ));
    let max_query = web::Data::new(http::middleware::MaxQueryBytes(settings.max_query_bytes));
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(metrics.clone())
            .app_data(limiter.clone())
            .app_data(auth_throttle.clone())
            .app_data(client_address.clone())
            .app_data(json_limit.clone())
            .app_data(request_timeout.clone())
            .app_data(max_query.clone())
            .app_data(web::QueryConfig::default().error_handler(http::problem::query_error))
            .app_data(web::PathConfig::default().error_handler(http::problem::path_error))
            .app_data(web::PayloadConfig::new(max_upload))
            .wrap(actix_web::middleware::from_fn(request_middleware))
            .configure(http::configure)
            .default_service(web::to(http::not_found))
    })
    .shutdown_timeout(10)
    .client_request_timeout(std::time::Duration::from_secs(
        settings.client_timeout_seconds.max(1),
    ))
    .client_disconnect_timeout(std::time::Duration::from_secs(5))
    .keep_alive(std::time::Duration::from_secs(30))
    // A streamed answer (a sealed PDF: the upload, then the update) ends with a short write;
    // with Nagle's algorithm it waited for the client's delayed ACK, 40 ms per request on a
    // kept-alive connection.
    .tcp_nodelay(true)
    .listen(listener)?
    .run())
}

/// What the first start created and must tell the operator.
struct Bootstrapped {
    generated_admin_token: Option<Zeroizing<String>>,
}

/// Creates the root CA, the log key and the admin key on an empty database, in one write set;
/// on later starts checks the master key and applies `TRUSTD_ADMIN_TOKEN`.
async fn bootstrap(
    store: &Arc<dyn Repository>,
    pki: &Pki,
    settings: &ServeSettings,
    public_url: &str,
    clock: &dyn Clock,
) -> Result<Bootstrapped, StartupError> {
    let admin_token = match &settings.admin_token {
        Some(t) if t.expose().chars().count() < 32 => return Err(StartupError::AdminTokenTooShort),
        Some(t) => Some(Zeroizing::new(t.expose().to_owned())),
        None => None,
    };
    if store.meta(META_ROOT_SERIAL).await?.is_none() {
        let (token, generated) = match &admin_token {
            Some(t) => (t.clone(), false),
            None => {
                let t = api_keys::generate().map_err(|e| StartupError::MasterKey(e.to_string()))?;
                (Zeroizing::new(t.token.as_str().to_owned()), true)
            }
        };
        let (writes, root_serial) = first_start(pki, settings, public_url, &token, clock.now())?;
        match store.apply(writes).await {
            Ok(_) => {
                tracing::info!(serial = %root_serial, "created the root CA, the log key and the admin key");
                return Ok(Bootstrapped {
                    generated_admin_token: generated.then_some(token),
                });
            }
            // Another instance bootstrapped the same database at the same moment: use its.
            Err(StoreError::Conflict(_)) => {
                tracing::info!("another instance bootstrapped the installation")
            }
            Err(e) => return Err(e.into()),
        }
    }
    let check = store
        .meta(META_MASTER_KEY_CHECK)
        .await?
        .ok_or_else(|| StoreError::Corrupt("master key check missing".into()))?;
    pki.vault()
        .open(MASTER_KEY_CHECK_BINDING, &check)
        .map_err(|_| StartupError::WrongMasterKey)?;
    if let Some(token) = admin_token {
        apply_admin_token(store, &token, clock.now()).await?;
    }
    Ok(Bootstrapped {
        generated_admin_token: None,
    })
}

/// The origin line of the log's checkpoints: the setting, or the public URL's host and path.
fn log_origin(settings: &ServeSettings, public_url: &str) -> String {
    match &settings.log_origin {
        Some(o) => o.clone(),
        None => format!(
            "{}/trustd-log",
            public_url
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
        ),
    }
}

/// The write set of a first start: the master-key check, the root CA, the log key and origin,
/// the sealed salt of the personal-data hashes, the admin key, and their log entries. Returns
/// it with the root's serial.
fn first_start(
    pki: &Pki,
    settings: &ServeSettings,
    public_url: &str,
    admin_token: &str,
    now: time::OffsetDateTime,
) -> Result<(WriteSet, String), StartupError> {
    let root = pki.build_root(&settings.root_ca_name, now)?;
    let (log_signer, log_key) = pki.new_key(KeyAlgorithm::Ed25519, now.unix_timestamp())?;
    let origin = log_origin(settings, public_url);
    let admin = bootstrap_admin(
        api_keys::claimed_id(admin_token),
        api_keys::token_hash(admin_token),
        now.unix_timestamp(),
    );
    let check = pki
        .vault()
        .seal(MASTER_KEY_CHECK_BINDING, MASTER_KEY_CHECK_VALUE)
        .map_err(PkiError::from)?;
    let mut salt = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| PkiError::KeyGeneration)?;
    // Sealed like a key: the salt is what keeps the log's hashes of personal data opaque.
    let pii_salt = pki
        .vault()
        .seal(PII_SALT_BINDING, &salt)
        .map_err(PkiError::from)?;
    let root_created = Event::new(
        EventType::RootCreated,
        now,
        root.certificate.serial.as_str(),
    )
    .data("log_key_id", log_signer.key_id())
    .data("log_origin", &origin);
    let meta = |key: &str, value: Vec<u8>| Change::InsertMeta {
        key: key.into(),
        value,
    };
    let serial = root.certificate.serial.clone();
    let writes = WriteSet::new()
        .change(meta(META_MASTER_KEY_CHECK, check))
        .change(Change::InsertKey(root.key))
        .change(Change::InsertCertificate(root.certificate.clone()))
        .change(meta(META_ROOT_SERIAL, serial.clone().into_bytes()))
        .change(Change::InsertKey(log_key))
        .change(meta(META_LOG_KEY, log_signer.key_id().as_bytes().to_vec()))
        .change(meta(META_LOG_ORIGIN, origin.into_bytes()))
        .change(meta(META_PII_SALT, pii_salt))
        .change(Change::InsertApiKey(admin.clone()))
        .event(root_created.to_new_event())
        .event(certificate_event(&root.certificate, now).to_new_event())
        .event(api_keys::created_event(&admin, None, now).to_new_event());
    Ok((writes, serial))
}

/// `TRUSTD_ADMIN_TOKEN` on a later start: make it the admin key it claims to be, replacing
/// the hash of that key (so the previous value of the variable stops working).
async fn apply_admin_token(
    store: &Arc<dyn Repository>,
    token: &str,
    now: time::OffsetDateTime,
) -> Result<(), StartupError> {
    let id = api_keys::claimed_id(token).to_owned();
    let hash = api_keys::token_hash(token);
    let writes = match store.api_key(&id).await? {
        Some(k) if k.token_hash == hash && k.revoked_at.is_none() => return Ok(()),
        Some(k) if k.role == Role::Admin && k.revoked_at.is_none() => WriteSet::new()
            .change(Change::SetApiKeyHash {
                id: id.clone(),
                token_hash: hash,
            })
            .event(
                Event::new(EventType::ApiKeyReplaced, now, id.as_str())
                    .data("reason", "TRUSTD_ADMIN_TOKEN changed")
                    .to_new_event(),
            ),
        Some(_) => return Err(StartupError::AdminTokenClash),
        None => {
            let admin = bootstrap_admin(&id, hash, now.unix_timestamp());
            WriteSet::new()
                .change(Change::InsertApiKey(admin.clone()))
                .event(api_keys::created_event(&admin, None, now).to_new_event())
        }
    };
    store.apply(writes).await?;
    tracing::info!("the admin key was set from TRUSTD_ADMIN_TOKEN");
    Ok(())
}

fn bootstrap_admin(id: &str, token_hash: Vec<u8>, now: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.to_owned(),
        token_hash,
        role: Role::Admin,
        department_code: None,
        label: Some("bootstrap admin".into()),
        created_at: now,
        revoked_at: None,
    }
}

/// The TSA's certificate and key (`kind` Tsa under the root, or Sm2Tsa under the SM2 root),
/// issued when the installation has none usable.
/// A TSA certificate is renewed when less than this remains of it.
const TSA_RENEW_SECONDS: i64 = 30 * 86_400;

/// The TSA unit of `kind` to use at `now`: the newest usable certificate, else a new one
/// (stored, logged). Usable: not revoked, not ended, and either more than
/// [`TSA_RENEW_SECONDS`] left or lasting as long as its root (it could not outlive it).
async fn current_tsa(
    store: &dyn Repository,
    pki: &Pki,
    now: time::OffsetDateTime,
    kind: CertKind,
) -> Result<(crate::pki::tsa::Tsa, i64), StartupError> {
    let root_end = match kind {
        CertKind::Sm2Tsa => pki.sm2_root().await?.not_after,
        _ => pki.root().await?.not_after,
    };
    let t = now.unix_timestamp();
    let usable = |c: &crate::store::CertificateRecord| {
        c.revoked_at.is_none()
            && c.not_after > t
            && (c.not_after > t + TSA_RENEW_SECONDS || c.not_after >= root_end)
    };
    let mut current = store
        .certificates_of_kind(kind, None)
        .await?
        .into_iter()
        .rfind(usable);
    if current.is_none() {
        let issued = match kind {
            CertKind::Sm2Tsa => pki.issue_sm2_tsa(now).await?,
            _ => pki.issue_tsa(now).await?,
        };
        let (writes, certificate) = issued.into_writes(now, None, None);
        store.apply(writes).await?;
        tracing::info!(serial = %certificate.serial, kind = kind.as_str(), "issued a TSA certificate");
        current = Some(certificate);
    }
    let cert = current.ok_or(PkiError::NoRoot)?;
    Ok((
        crate::pki::tsa::Tsa::new(pki.signer(&cert.key_id).await?, cert.der),
        cert.not_after,
    ))
}

/// Renews the TSA certificates that are due (less than 30 days left), while the service runs:
/// each unit is replaced for the next token, once (the newest usable certificate in the
/// database is taken first, so that instances of a cluster share one). Returns how many units
/// changed.
pub async fn renew_tsas(ctx: &Context) -> Result<u32, StartupError> {
    let mut changed = 0;
    for unit in [&ctx.tsa, &ctx.tsa_sm2] {
        let now = ctx.clock.now();
        if unit.not_after() - now.unix_timestamp() > TSA_RENEW_SECONDS {
            continue;
        }
        let _guard = unit.renewing().await;
        let (tsa, end) = current_tsa(ctx.store.as_ref(), &ctx.pki, now, unit.kind).await?;
        if end != unit.not_after() || tsa.certificate() != unit.get().certificate() {
            unit.replace(tsa, end);
            changed += 1;
        }
    }
    Ok(changed)
}

/// How often the TSA certificates are looked at.
const TSA_CHECK_EVERY: Duration = Duration::from_secs(3600);

fn spawn_tsa_renewer(ctx: Arc<Context>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Start-up has just loaded the current units: the first look is
        // one period later (an immediate one could race a caller that
        // renews right after start, and count a renewal twice).
        let first = tokio::time::Instant::now() + TSA_CHECK_EVERY;
        let mut tick = tokio::time::interval_at(first, TSA_CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match renew_tsas(&ctx).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(units = n, "renewed TSA certificates"),
                Err(e) => tracing::error!(error = %e, "TSA renewal failed"),
            }
        }
    })
}

async fn meta_string(store: &dyn Repository, key: &str) -> Result<String, StartupError> {
    let bytes = store
        .meta(key)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("{key} missing")))?;
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt(format!("{key} is not text")).into())
}

/// How often the integrator looks for new entries.
const INTEGRATE_EVERY: Duration = Duration::from_millis(200);

impl Application {
    pub async fn build(settings: ServeSettings) -> Result<Application, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        mut settings: ServeSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartupError> {
        settings
            .read_secret_files()
            .map_err(StartupError::Secrets)?;
        let dir_err = |source| StartupError::DataDir {
            path: settings.data_dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&settings.data_dir).map_err(dir_err)?;
        keep_private(&settings)?;
        let vault = load_master_key(&settings)?;
        let store: Arc<dyn Repository> =
            Arc::new(SqlStore::connect(&settings.database_url()).await?);
        // A database SQLite has just created has the process's default mode.
        keep_private(&settings)?;

        let listener = TcpListener::bind(settings.listen).map_err(|source| StartupError::Bind {
            addr: settings.listen.to_string(),
            source,
        })?;
        let local = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen.to_string(),
            source,
        })?;
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"))
            .trim_end_matches('/')
            .to_owned();

        let pki = Arc::new(Pki::new(vault, store.clone(), public_url.clone()));
        let boot = bootstrap(&store, &pki, &settings, &public_url, clock.as_ref()).await?;
        if let Some(token) = &boot.generated_admin_token {
            announce_admin_token(&settings, token).map_err(dir_err)?;
        }
        crate::seal::national::ensure_hierarchy(
            &pki,
            store.as_ref(),
            &settings.root_ca_name,
            clock.now(),
        )
        .await
        .map_err(|e| StartupError::National(e.to_string()))?;
        let log = open_log(&store, &pki, &settings, clock.as_ref()).await?;
        guard_against_rollback(&store, &log, &settings.data_dir).await?;
        let context = Arc::new(
            context(
                &settings,
                store,
                pki,
                log.clone(),
                clock.clone(),
                public_url,
            )
            .await?,
        );
        let witness_feeder = spawn_witness_feeder(log.clone(), clock.clone());
        let tsa_renewer = spawn_tsa_renewer(context.clone());
        let status_watcher = tokio::spawn(watch_views(context.clone()));
        let integrator = spawn_integrator(log, clock, settings.data_dir.clone());
        let server =
            serve(&settings, context.clone(), listener).map_err(|source| StartupError::Bind {
                addr: local.to_string(),
                source,
            })?;
        tracing::info!(address = %local, public_url = %context.public_url, "trustd listening");
        Ok(Application {
            port: local.port(),
            server,
            context,
            integrator,
            witness_feeder,
            tsa_renewer,
            status_watcher,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server (tests, embedding).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn context(&self) -> Arc<Context> {
        self.context.clone()
    }

    /// Serves until SIGINT/SIGTERM (graceful: in-flight requests finish) or the server stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.integrator.abort();
        self.tsa_renewer.abort();
        self.status_watcher.abort();
        if let Some(feeder) = self.witness_feeder {
            feeder.abort();
        }
        result
    }
}

/// What `trustd backup` writes beside the copy (`manifest.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub trustd_version: String,
    pub created_at: String,
    pub schema_version: i64,
    pub log_size: u64,
    pub checkpoint_size: u64,
    /// Base64 root of the latest checkpoint in the copy.
    pub checkpoint_root: String,
    pub database_file: String,
    /// Hex SHA-256 of the copy.
    pub database_sha256: String,
}

const BACKUP_DB: &str = "trustd.db";

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex::encode(ctx.finish()))
}

/// `trustd backup DIR`: a consistent copy of the SQLite database taken while it is in use,
/// and its manifest. The master key is not copied: a backup is useless without it, and it must
/// be kept apart (docs/OPERATIONS.md).
pub async fn backup(settings: &ServeSettings, dir: &Path) -> Result<Manifest, StartupError> {
    let dir_err = |source| StartupError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(dir_err)?;
    let copy = dir.join(BACKUP_DB);
    if copy.exists() {
        return Err(StartupError::Secrets(format!(
            "{} exists already: back up into a new directory",
            copy.display()
        )));
    }
    let live = SqlStore::connect(&settings.database_url()).await?;
    live.snapshot_to(&copy).await?;
    let snapshot = SqlStore::connect(&format!("sqlite://{}", copy.display())).await?;
    let checkpoint = snapshot.latest_checkpoint().await?;
    let manifest = Manifest {
        format: 1,
        trustd_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: crate::clock::rfc3339(time::OffsetDateTime::now_utc().unix_timestamp()),
        schema_version: snapshot.schema_version().await?,
        log_size: snapshot.log_size().await?,
        checkpoint_size: checkpoint.as_ref().map_or(0, |c| c.size),
        checkpoint_root: checkpoint
            .as_ref()
            .map(|c| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &c.root))
            .unwrap_or_default(),
        database_file: BACKUP_DB.to_owned(),
        database_sha256: String::new(),
    };
    drop(snapshot);
    let manifest = Manifest {
        database_sha256: sha256_file(&copy).map_err(dir_err)?,
        ..manifest
    };
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| StartupError::Secrets(e.to_string()))?;
    write_private_file(&dir.join("manifest.json"), &json).map_err(dir_err)?;
    Ok(manifest)
}

/// `trustd restore DIR`: checks the copy against its manifest and puts it where the SQLite
/// database of `settings` lives (its stale WAL removed). The next start refuses it while it is
/// behind the high-water mark: then `trustd log replay`.
pub fn restore(
    settings: &ServeSettings,
    dir: &Path,
    force: bool,
) -> Result<Manifest, StartupError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| StartupError::DataDir { path, source }
    };
    let manifest_path = dir.join("manifest.json");
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).map_err(io(&manifest_path))?)
            .map_err(|e| StartupError::Secrets(format!("{}: {e}", manifest_path.display())))?;
    let copy = dir.join(&manifest.database_file);
    if sha256_file(&copy).map_err(io(&copy))? != manifest.database_sha256 {
        return Err(StartupError::Secrets(format!(
            "{} does not match its manifest: the backup is damaged",
            copy.display()
        )));
    }
    let url = settings.database_url();
    let target = url
        .strip_prefix("sqlite://")
        .map(std::path::PathBuf::from)
        .ok_or_else(|| {
            StartupError::Secrets(
                "restore puts back SQLite databases; PostgreSQL is restored with its own tools (docs/OPERATIONS.md)".into(),
            )
        })?;
    if target.exists() && !force {
        return Err(StartupError::Secrets(format!(
            "{} exists: stop trustd and pass --force to replace it",
            target.display()
        )));
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    for stale in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{stale}", target.display()));
    }
    let tmp = target.with_extension("db.restoring");
    std::fs::copy(&copy, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &target).map_err(io(&target))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600));
    }
    Ok(manifest)
}

/// What the offline commands (`log replay`, `log rotate`, `root renew`) work on: the database
/// and the PKI of the service's settings, with its secrets read from their files.
async fn offline(settings: &mut ServeSettings) -> Result<(Arc<dyn Repository>, Pki), StartupError> {
    settings
        .read_secret_files()
        .map_err(StartupError::Secrets)?;
    let vault = load_master_key(settings)?;
    let store: Arc<dyn Repository> = Arc::new(SqlStore::connect(&settings.database_url()).await?);
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.listen));
    let pki = Pki::new(vault, store.clone(), public_url);
    Ok((store, pki))
}

/// `trustd log replay EXPORT`: the entries the database lacks, from an auditor's export, put
/// back byte for byte with the revocations they record; the tree integrated again, which must
/// meet the high-water mark exactly; CRL numbers moved past the last published.
pub async fn replay(
    mut settings: ServeSettings,
    export: &Path,
) -> Result<recovery::Replayed, StartupError> {
    let (store, pki) = offline(&mut settings).await?;
    let clock = SystemClock;
    let log = open_log(&store, &pki, &settings, &clock).await?;
    let text = std::fs::read_to_string(export).map_err(|source| StartupError::DataDir {
        path: export.display().to_string(),
        source,
    })?;
    let entries =
        recovery::entries_from(&text, store.log_size().await?).map_err(StartupError::RolledBack)?;
    let before = recovery::current_mark(store.as_ref(), log.origin()).await?;
    let mark = recovery::read_mark(&settings.data_dir)
        .map_err(StartupError::RolledBack)?
        .filter(|m| recovery::of_log(m, before.as_ref(), log.origin()))
        .ok_or_else(|| {
            StartupError::RolledBack(format!(
                "no high-water mark of this log in {}: nothing to check the export against",
                settings.data_dir.display()
            ))
        })?;
    recovery::check_export(store.as_ref(), &entries, &mark)
        .await
        .map_err(StartupError::RolledBack)?;
    let report = recovery::replay(store.as_ref(), &entries)
        .await
        .map_err(StartupError::RolledBack)?;
    while log.integrate(clock.now()).await?.is_some() {}
    let db = recovery::current_mark(store.as_ref(), log.origin()).await?;
    if let Some(why) = recovery::behind(db.as_ref(), Some(&mark), &[]) {
        return Err(StartupError::RolledBack(format!(
            "after the replay: {why} (the export must reach the mark)"
        )));
    }
    for (ca, number) in &mark.crl_numbers {
        pki.crl_above(ca, *number, clock.now()).await?;
    }
    if let Some(db) = recovery::current_mark(store.as_ref(), log.origin()).await? {
        recovery::write_mark(&settings.data_dir, &db).map_err(StartupError::RolledBack)?;
    }
    Ok(report)
}

/// `trustd log rotate`: the log's next shard under `origin`, with a new key (see
/// [`crate::log::shards`]); the high-water mark follows it.
pub async fn rotate_log(
    mut settings: ServeSettings,
    origin: &str,
) -> Result<crate::log::shards::Rotated, StartupError> {
    let (store, pki) = offline(&mut settings).await?;
    let clock = SystemClock;
    let log = open_log(&store, &pki, &settings, &clock).await?;
    guard_against_rollback(&store, &log, &settings.data_dir).await?;
    let now = clock.now();
    let (signer, key) = pki.new_key(KeyAlgorithm::Ed25519, now.unix_timestamp())?;
    let rotated = log.rotate(signer, key, origin, now).await?;
    if let Some(db) = recovery::current_mark(store.as_ref(), origin).await? {
        recovery::write_mark(&settings.data_dir, &db).map_err(StartupError::RolledBack)?;
    }
    Ok(rotated)
}

/// What `trustd root renew` did.
#[derive(Debug, serde::Serialize)]
pub struct RootRenewed {
    /// The new root's name (`root.N`) and serial.
    pub name: String,
    pub serial: String,
    pub log_index: Option<u64>,
}

/// `trustd root renew`: the next root generation with its links (see [`crate::pki::rollover`]).
pub async fn renew_root(mut settings: ServeSettings) -> Result<RootRenewed, StartupError> {
    let (store, pki) = offline(&mut settings).await?;
    let (writes, root) = pki.renew_root(time::OffsetDateTime::now_utc()).await?;
    let indices = store.apply(writes).await?;
    Ok(RootRenewed {
        name: crate::pki::ca_name(&root).unwrap_or_default(),
        serial: root.serial,
        log_index: indices.first().copied(),
    })
}

/// What `trustd rekey` did.
#[derive(Debug, serde::Serialize)]
pub struct Rekeyed {
    /// Private keys encrypted again.
    pub keys: usize,
    /// Hex id of the master key everything is now under.
    pub master_key_id: String,
    pub log_index: Option<u64>,
}

/// `trustd rekey`: every stored private key, and the sealed check value and PII salt, opened
/// with any of the master keys given and sealed again under the first, in one write set with
/// its log entry. Run it with `TRUSTD_MASTER_KEY=NEW,OLD`; then NEW alone opens everything.
pub async fn rekey(mut settings: ServeSettings) -> Result<Rekeyed, StartupError> {
    settings
        .read_secret_files()
        .map_err(StartupError::Secrets)?;
    let vault = load_master_key(&settings)?;
    let store = SqlStore::connect(&settings.database_url()).await?;
    let mut writes = WriteSet::new();
    let mut count = 0;
    for key in store.all_keys().await? {
        if vault.is_current(&key.sealed_private_key) {
            continue;
        }
        let sealed = crate::keys::reseal(&key, &vault).map_err(|_| StartupError::WrongMasterKey)?;
        writes = writes.change(Change::ResealKey { id: key.id, sealed });
        count += 1;
    }
    for (name, binding) in [
        (META_MASTER_KEY_CHECK, MASTER_KEY_CHECK_BINDING),
        (META_PII_SALT, PII_SALT_BINDING),
    ] {
        let Some(sealed) = store.meta(name).await? else {
            continue;
        };
        if vault.is_current(&sealed) {
            continue;
        }
        let plain = vault
            .open(binding, &sealed)
            .map_err(|_| StartupError::WrongMasterKey)?;
        let value = vault
            .seal(binding, &plain)
            .map_err(|e| StartupError::MasterKey(e.to_string()))?;
        writes = writes.change(Change::SetMeta {
            key: name.to_owned(),
            value,
        });
    }
    let now = time::OffsetDateTime::now_utc();
    let event = Event::new(EventType::KeysRekeyed, now, vault.current_id())
        .data("keys", count)
        .data("master_key_id", vault.current_id());
    let indices = store.apply(writes.event(event.to_new_event())).await?;
    Ok(Rekeyed {
        keys: count,
        master_key_id: vault.current_id(),
        log_index: indices.first().copied(),
    })
}
