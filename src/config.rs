//! Settings: command line flags with the same names as the `TRUSTD_*` environment variables
//! (ARCHITECTURE.md §3). Secrets are wrapped in [`Secret`] so that they never print.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

/// A value that must not appear in logs or `Debug` output (master key, admin token).
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself: call only where it is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "trustd",
    version,
    about = "Shared trust service: electronic licences, electronic seals, tamper-evident issuance log"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default when no command is given).
    Serve(Box<ServeSettings>),
    /// Independently check a running trustd's issuance log: checkpoint signature, entries, consistency.
    Audit(AuditArgs),
    /// Verify a signed PDF or sealed OFD offline (no server): prints the report as JSON; exit code 0 only for
    /// TOTAL-PASSED, 1 otherwise, 2 when the file cannot be read.
    Verify(VerifyArgs),
    /// Run a C2SP tlog-witness: cosigns the checkpoints of the logs it is given, only when
    /// consistent with every one it cosigned before.
    Witness(WitnessSettings),
    /// Copy the database consistently while trustd runs (SQLite) into DIR, with a manifest;
    /// no key leaves with it (the master key is kept apart).
    Backup(BackupArgs),
    /// Put a backup made by `trustd backup` in place of a lost SQLite database.
    Restore(RestoreArgs),
    /// The issuance log: `replay EXPORT` after a restore, `rotate --origin O` for a new key.
    #[command(subcommand)]
    Log(LogCommand),
    /// Encrypt every stored private key again under the first master key of TRUSTD_MASTER_KEY
    /// (`NEW,OLD`); afterwards NEW alone suffices. Logged (`keys.rekeyed`).
    Rekey(RekeyArgs),
    /// The root CA: `renew` makes the next generation of the root with cross-signed links.
    #[command(subcommand)]
    Root(RootCommand),
}

#[derive(Debug, Clone, Subcommand)]
pub enum RootCommand {
    /// The root's key ceremony: a new root generation (`root.N`), linked both ways to the
    /// current one; department CAs and the TSA are issued under it from then on, and the old
    /// root keeps answering for what it certified. Logged.
    Renew(RekeyArgs),
}

/// `trustd rekey`.
#[derive(Debug, Clone, Args)]
pub struct RekeyArgs {
    #[command(flatten)]
    pub settings: ServeSettings,
}

/// `trustd backup DIR`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// A new directory for the copy and its manifest.
    pub dir: PathBuf,
    #[command(flatten)]
    pub settings: ServeSettings,
}

/// `trustd restore DIR`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// A directory made by `trustd backup`.
    pub dir: PathBuf,
    /// Replace a database that is still there.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub settings: ServeSettings,
}

#[derive(Debug, Clone, Subcommand)]
pub enum LogCommand {
    /// Put back, byte for byte, the entries a restored database lacks, from an export of the
    /// log (`GET /api/v1/log/export`, kept by an auditor), with the revocations they record;
    /// then move CRL numbers past the last ones published.
    Replay(ReplayArgs),
    /// Rotate the log's signing key: end this shard (a `log.rotated` entry naming the new
    /// origin and key, signed into a final checkpoint by the old key) and start the next one
    /// under a new origin and key, continuing the same tree. Every instance must be stopped.
    Rotate(RotateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    /// The new shard's origin (the checkpoint's first line), e.g. `trustd.example/log/2`.
    #[arg(long)]
    pub origin: String,
    #[command(flatten)]
    pub settings: ServeSettings,
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The NDJSON export.
    pub export: PathBuf,
    #[command(flatten)]
    pub settings: ServeSettings,
}

/// Settings of `trustd witness`.
#[derive(Debug, Clone, Args)]
pub struct WitnessSettings {
    /// Address and port to listen on.
    #[arg(long, env = "TRUSTD_WITNESS_LISTEN", default_value = "127.0.0.1:7380")]
    pub listen: SocketAddr,
    /// Directory of the witness's database (its key, sealed, and the latest checkpoint it
    /// cosigned per log) and generated master key.
    #[arg(
        long,
        env = "TRUSTD_WITNESS_DATA_DIR",
        default_value = "./witness-data"
    )]
    pub data_dir: PathBuf,
    /// The witness's name (its cosignatures' key name, e.g. `audit.example.gov.cn/witness`):
    /// needed on the first start, fixed afterwards.
    #[arg(long, env = "TRUSTD_WITNESS_NAME")]
    pub name: Option<String>,
    /// The verifier key (`name+id+base64`, from `/api/v1/log/key`) of a log to witness; repeat,
    /// or separate by `;` in the variable.
    #[arg(long = "log", env = "TRUSTD_WITNESS_LOGS", value_delimiter = ';')]
    pub logs: Vec<String>,
    /// Key encryption key, base64 of 32 bytes. Default: a generated `<data dir>/master.key`.
    #[arg(long, env = "TRUSTD_WITNESS_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<Secret>,
    /// A file holding that key instead.
    #[arg(
        long,
        env = "TRUSTD_WITNESS_MASTER_KEY_FILE",
        conflicts_with = "master_key"
    )]
    pub master_key_file: Option<PathBuf>,
}

/// Default of `TRUSTD_MAX_QUERY_BYTES`.
pub const MAX_QUERY_BYTES: usize = 4096;

/// Default of `TRUSTD_MAX_PUBLIC_VERIFY_BYTES`.
pub const MAX_PUBLIC_VERIFY_BYTES: usize = 20 * 1024 * 1024;
/// Default of `TRUSTD_MAX_CONCURRENT_DOCUMENTS`.
pub const MAX_CONCURRENT_DOCUMENTS: usize = 8;

/// Arguments of `trustd audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Base URL of the trustd to audit, e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub url: String,
    /// Auditor API key; without it only the checkpoint and proofs are checked, not the entries.
    #[arg(long, env = "TRUSTD_AUDIT_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,
    /// State file: the pinned log key and the last checkpoint seen. Created when missing.
    #[arg(long, default_value = "trustd-audit.json")]
    pub state: PathBuf,
    /// The log's verifier key (`name+id+key`), pinned; default: the key in the state file,
    /// else the one the server publishes (trust on first use).
    #[arg(long)]
    pub key: Option<String>,
    /// A witness's vkey (`name+id+base64`) whose cosignature counts; repeat for each.
    #[arg(long = "witness")]
    pub witness: Vec<String>,
    /// Cosignatures of those witnesses the checkpoint must carry. Default: all of them.
    #[arg(long)]
    pub quorum: Option<usize>,
    /// A PEM file of CA certificates to trust for an https URL, besides the usual roots (a
    /// service behind a TLS front with a private CA).
    #[arg(long = "ca-file")]
    pub ca_file: Option<PathBuf>,
}

/// Arguments of `trustd verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The PDF or OFD to verify (or, with --log-proof, a licence token).
    pub file: PathBuf,
    /// A PEM file of trusted roots (may hold several certificates; repeat for more files).
    #[arg(long = "trust")]
    pub trust: Vec<PathBuf>,
    /// Accept certificates under the given roots whose revocation status cannot be had (from
    /// the document's DSS): for closed PKIs that publish none. A status that says revoked still
    /// fails. Without it such signatures are INDETERMINATE (TRY_LATER).
    #[arg(long = "revocation-optional")]
    pub revocation_optional: bool,
    /// A proof of logging (`.tlog-proof`, from `/api/v1/licences/{id}/log-proof` or
    /// `/api/v1/log/proofs/{index}`) to check offline: that the file (a stamped PDF or OFD, or a
    /// licence token) was logged. FILE may then be a licence token.
    #[arg(long = "log-proof", requires = "log_key")]
    pub log_proof: Option<PathBuf>,
    /// The log's verifier key (`name+id+base64`), pinned.
    #[arg(long = "log-key")]
    pub log_key: Option<String>,
    /// A witness's vkey whose cosignature counts; repeat for each.
    #[arg(long = "witness")]
    pub witness: Vec<String>,
    /// Cosignatures of those witnesses the proof's checkpoint must carry. Default: all of them.
    #[arg(long = "quorum")]
    pub quorum: Option<usize>,
}

/// Settings of `trustd serve`. Every flag can also be given by its environment variable.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    /// Address and port to listen on.
    #[arg(long, env = "TRUSTD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the embedded database, the generated master key and the admin token.
    #[arg(long, env = "TRUSTD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://PATH` or `postgres://…`. Default: SQLite `<data dir>/trustd.db`.
    #[arg(long, env = "TRUSTD_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Public base URL put in certificates (CRL, OCSP) and QR codes. Default: `http://` + listen address.
    #[arg(long, env = "TRUSTD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Key encryption key, base64 of 32 bytes. Default: a generated `<data dir>/master.key` (mode 0600).
    #[arg(long, env = "TRUSTD_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<Secret>,

    /// Admin API token (at least 32 characters), for automation. Default: generated on first start.
    #[arg(long, env = "TRUSTD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Largest accepted request body in bytes (PDF uploads).
    #[arg(long, env = "TRUSTD_MAX_UPLOAD_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_upload_bytes: usize,

    /// Largest PDF accepted for verification from a caller without an API key (the public);
    /// callers with a key get TRUSTD_MAX_UPLOAD_BYTES.
    #[arg(long, env = "TRUSTD_MAX_PUBLIC_VERIFY_BYTES", default_value_t = MAX_PUBLIC_VERIFY_BYTES)]
    pub max_public_verify_bytes: usize,

    /// Stampings and verifications that may run at once on this instance; more get 503 with
    /// Retry-After.
    #[arg(long, env = "TRUSTD_MAX_CONCURRENT_DOCUMENTS", default_value_t = MAX_CONCURRENT_DOCUMENTS)]
    pub max_concurrent_documents: usize,

    /// Most objects an uploaded PDF may declare or hold (stamping and verification).
    #[arg(long, env = "TRUSTD_MAX_PDF_OBJECTS", default_value_t = crate::pdf::MAX_OBJECTS)]
    pub max_pdf_objects: usize,

    /// Most signatures in a PDF sent for verification; a PDF with more is refused.
    #[arg(long, env = "TRUSTD_MAX_PDF_SIGNATURES", default_value_t = crate::pdf::MAX_SIGNATURES)]
    pub max_pdf_signatures: usize,

    /// Longest accepted query string in bytes (the part of the URL after `?`).
    #[arg(long, env = "TRUSTD_MAX_QUERY_BYTES", default_value_t = MAX_QUERY_BYTES)]
    pub max_query_bytes: usize,

    /// Largest accepted JSON request body in bytes.
    #[arg(long, env = "TRUSTD_MAX_JSON_BYTES", default_value_t = 1024 * 1024)]
    pub max_json_bytes: usize,

    /// Requests per second each client address may make to the public endpoints (`/v/…`,
    /// `/api/v1/public/…`, `/api/v1/verify/…`, `/ocsp`, `/tsa`); 0 turns the limit off.
    #[arg(long, env = "TRUSTD_PUBLIC_RATE", default_value_t = 100)]
    pub public_rate: u32,

    /// Requests a client may make at once above that rate.
    #[arg(long, env = "TRUSTD_PUBLIC_BURST", default_value_t = 200)]
    pub public_burst: u32,

    /// Reverse proxies whose forwarding header is believed: CIDR blocks or addresses separated by
    /// commas (e.g. `127.0.0.1/32,10.0.0.0/8`). Empty: every peer is the client itself.
    #[arg(long, env = "TRUSTD_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,

    /// The header the trusted proxies set: `x-forwarded-for` or `forwarded` (RFC 7239). The other
    /// one is ignored.
    #[arg(
        long,
        env = "TRUSTD_PROXY_HEADER",
        value_enum,
        default_value = "x-forwarded-for"
    )]
    pub proxy_header: ProxyHeader,

    /// Failed authentications (an unknown, revoked or malformed API key) a client may make a
    /// minute; beyond them its requests with a key get 429 until the minute has passed. 0 turns
    /// the limit off.
    #[arg(long, env = "TRUSTD_AUTH_FAILURES_PER_MINUTE", default_value_t = 10)]
    pub auth_failures_per_minute: u32,

    /// Seconds a client has to send a request's head (slow clients are cut off).
    #[arg(long, env = "TRUSTD_CLIENT_TIMEOUT_SECONDS", default_value_t = 10)]
    pub client_timeout_seconds: u64,

    /// Seconds a request may take in all (body and answer included) before it is cut off.
    #[arg(long, env = "TRUSTD_REQUEST_TIMEOUT_SECONDS", default_value_t = 120)]
    pub request_timeout_seconds: u64,

    /// Common name of the root CA created on first start.
    #[arg(long, env = "TRUSTD_ROOT_CA_NAME", default_value = "trustd Root CA")]
    pub root_ca_name: String,

    /// Origin line of the issuance log's checkpoints (C2SP signed note).
    #[arg(long, env = "TRUSTD_LOG_ORIGIN")]
    pub log_origin: Option<String>,

    /// Witnesses asked to cosign each new checkpoint (c2sp.org/tlog-witness): entries
    /// separated by `;`, each `<witness vkey> <URL prefix of its add-checkpoint>`.
    #[arg(long, env = "TRUSTD_WITNESSES", default_value = "")]
    pub witnesses: String,

    /// Cosignatures of those witnesses that make a checkpoint witnessed ("k of n"). Default: a
    /// majority of them.
    #[arg(long, env = "TRUSTD_WITNESS_QUORUM")]
    pub witness_quorum: Option<usize>,

    /// A file holding the master key (systemd `LoadCredential=`, a container secret) instead
    /// of TRUSTD_MASTER_KEY.
    #[arg(long, env = "TRUSTD_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,

    /// A file holding the admin token instead of TRUSTD_ADMIN_TOKEN.
    #[arg(long, env = "TRUSTD_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Log lines as `text` or `json` (one object per line, with the request id, the client
    /// address and the API key id).
    #[arg(long, env = "TRUSTD_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// `/readyz` answers 503 when entries have waited longer than this for a checkpoint.
    #[arg(
        long,
        env = "TRUSTD_READY_MAX_INTEGRATION_SECONDS",
        default_value_t = 60
    )]
    pub ready_max_integration_seconds: i64,

    /// `/readyz` answers 503 when a CA or TSA certificate ends within this many hours.
    #[arg(long, env = "TRUSTD_READY_MIN_VALIDITY_HOURS", default_value_t = 24)]
    pub ready_min_validity_hours: i64,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl ServeSettings {
    /// Reads the secrets given as files (`*_FILE`) into their settings; a secret given both
    /// ways is refused, so that it is clear which one is used.
    pub fn read_secret_files(&mut self) -> Result<(), String> {
        if let Some(path) = &self.master_key_file {
            if self.master_key.is_some() {
                return Err("set TRUSTD_MASTER_KEY or TRUSTD_MASTER_KEY_FILE, not both".into());
            }
            self.master_key = Some(read_secret_file(path)?);
        }
        if let Some(path) = &self.admin_token_file {
            if self.admin_token.is_some() {
                return Err("set TRUSTD_ADMIN_TOKEN or TRUSTD_ADMIN_TOKEN_FILE, not both".into());
            }
            self.admin_token = Some(read_secret_file(path)?);
        }
        Ok(())
    }
}

/// A secret from a file, without the final line break editors and `echo` add.
pub fn read_secret_file(path: &std::path::Path) -> Result<Secret, String> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
}

impl ServeSettings {
    /// Settings for a server on `127.0.0.1:0` with data in `data_dir` (tests and scripts).
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut settings = Self::defaults();
        settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.data_dir = data_dir.into();
        settings
    }

    /// Every setting at its default, as the flags' attributes above say (the one place the
    /// defaults are written), whatever `TRUSTD_*` variables the environment holds.
    pub fn defaults() -> Self {
        use clap::{Args as _, FromArgMatches as _};
        let command = Self::augment_args(clap::Command::new("trustd-serve"))
            .mut_args(|arg| arg.env(None::<&str>));
        command
            .try_get_matches_from(["trustd-serve"])
            .and_then(|m| Self::from_arg_matches(&m))
            // The defaults parse: every default is a literal of its type (tested below).
            .unwrap_or_else(|e| unreachable!("the settings' defaults do not parse: {e}"))
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("trustd.db").display()),
        }
    }
}

/// Which header the trusted proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyHeader {
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    #[value(name = "forwarded")]
    Forwarded,
}

/// The value of `TRUSTD_TRUSTED_PROXIES`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl std::str::FromStr for TrustedProxies {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_trusted(s).map(TrustedProxies)
    }
}

/// Parses `TRUSTD_TRUSTED_PROXIES`: CIDRs (or single addresses) separated by commas or spaces.
pub fn parse_trusted(list: &str) -> Result<Vec<IpNet>, String> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("{s:?} is not a CIDR block such as 10.0.0.0/8 or 2001:db8::/32")
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_flags() {
        let d = ServeSettings::defaults();
        assert_eq!(d.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(d.data_dir, PathBuf::from("./data"));
        assert_eq!(
            (d.public_rate, d.public_burst, d.auth_failures_per_minute),
            (100, 200, 10)
        );
        assert_eq!(d.max_query_bytes, MAX_QUERY_BYTES);
        assert_eq!(d.proxy_header, ProxyHeader::XForwardedFor);
        assert!(d.trusted_proxies.0.is_empty() && d.master_key.is_none());
        let t = ServeSettings::for_data_dir("/tmp/x");
        assert_eq!((t.listen.port(), t.data_dir), (0, PathBuf::from("/tmp/x")));
        assert_eq!(t.root_ca_name, d.root_ca_name);
    }
}
