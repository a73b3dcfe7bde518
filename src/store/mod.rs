//! Storage: one repository trait ([`Repository`]) and its SQL implementation ([`sql::SqlStore`])
//! for the two backends, SQLite (embedded default) and PostgreSQL (scale-out).
//!
//! Writes go through [`Repository::apply`]: a [`WriteSet`] holds the changes *and* the issuance
//! log events that record them, and both commit in one transaction, so an acknowledged change
//! always has its log entry (ARCHITECTURE.md §8). The store holds no policy: callers validate and
//! authorise first.

pub mod sql;

use async_trait::async_trait;

pub use sql::SqlStore;

/// Errors of the store layer. Details of database errors stay in the log, not in responses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (e.g. a department code that exists already).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An update or delete found no row to act on.
    #[error("not found")]
    NotFound,
    /// A stored value could not be read back (schema or data corruption).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The writer could not take or commit the write (shutting down, database gone).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// What this backend does not do (said to the operator).
    #[error("{0}")]
    Unsupported(String),
}

/// Which SQL backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A private key row: the PKCS#8 bytes are sealed by the master key, bound to `id`.
#[derive(Clone)]
pub struct StoredKey {
    pub id: String,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub sealed_private_key: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The role of an API key (ARCHITECTURE.md §9); stored and answered by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Auditor,
    /// Reads `/metrics` and nothing else (a Prometheus scraper's key).
    Monitor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Monitor => "monitor",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            "auditor" => Some(Role::Auditor),
            "monitor" => Some(Role::Monitor),
            _ => None,
        }
    }
}

/// A licence's stored status (expiry is derived from its dates, never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenceState {
    Valid,
    Suspended,
    Revoked,
}

impl LicenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            LicenceState::Valid => "valid",
            LicenceState::Suspended => "suspended",
            LicenceState::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<LicenceState> {
        [
            LicenceState::Valid,
            LicenceState::Suspended,
            LicenceState::Revoked,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// What a certificate is for; stored and answered by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertKind {
    RootCa,
    DepartmentCa,
    Tsa,
    Seal,
    LicenceSigner,
    /// A delegated OCSP responder (of the root or of a department CA).
    Ocsp,
    /// The national (SM2) hierarchy: its root, the departments' CAs, the TSA, the seals.
    Sm2RootCa,
    Sm2DepartmentCa,
    Sm2Tsa,
    Sm2Seal,
    /// A cross-signed link between two generations of the root: one root's subject and key
    /// certified by the other root (RFC 4210 §4.4 "new with old" and "old with new").
    RootLink,
}

impl CertKind {
    pub const ALL: [CertKind; 11] = [
        CertKind::RootCa,
        CertKind::DepartmentCa,
        CertKind::Tsa,
        CertKind::Seal,
        CertKind::LicenceSigner,
        CertKind::Ocsp,
        CertKind::Sm2RootCa,
        CertKind::Sm2DepartmentCa,
        CertKind::Sm2Tsa,
        CertKind::Sm2Seal,
        CertKind::RootLink,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CertKind::RootCa => "root-ca",
            CertKind::DepartmentCa => "department-ca",
            CertKind::Tsa => "tsa",
            CertKind::Seal => "seal",
            CertKind::LicenceSigner => "licence-signer",
            CertKind::Ocsp => "ocsp",
            CertKind::Sm2RootCa => "sm2-root-ca",
            CertKind::Sm2DepartmentCa => "sm2-department-ca",
            CertKind::Sm2Tsa => "sm2-tsa",
            CertKind::Sm2Seal => "sm2-seal",
            CertKind::RootLink => "root-link",
        }
    }

    pub fn parse(s: &str) -> Option<CertKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One issued certificate.
#[derive(Debug, Clone)]
pub struct CertificateRecord {
    /// Serial number, lower-case hex of its DER integer content.
    pub serial: String,
    /// The issuing CA's name (see [`crate::pki::ca_name`]): `root`, a department code, ….
    pub issuer: String,
    /// What the certificate is for.
    pub kind: CertKind,
    pub subject: String,
    pub department_code: Option<String>,
    pub key_id: String,
    pub der: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
    /// When the key is known or suspected to have become unusable (RFC 5280 §5.3.2).
    pub invalidity_date: Option<i64>,
    /// A CA's own name when it is not its department's (or the service's) first: see
    /// [`crate::pki::ca_name`].
    pub ca_name: Option<String>,
    pub created_at: i64,
}

/// An external root registered as trusted for verification.
#[derive(Debug, Clone)]
pub struct TrustAnchorRecord {
    pub id: String,
    pub label: String,
    pub der: Vec<u8>,
    /// Lower-case hex SHA-256 of the DER (unique).
    pub sha256: String,
    pub subject: String,
    pub not_before: i64,
    pub not_after: i64,
    pub created_at: i64,
    /// Comma-separated purposes: `documents`, `timestamps`, `licences`.
    pub purposes: String,
    /// Whether certificates under it need revocation status for a signature to pass.
    pub revocation_required: bool,
    pub disabled: bool,
}

/// A certificate revocation list issued by a CA (`root` or a department code).
#[derive(Debug, Clone)]
pub struct CrlRecord {
    pub ca: String,
    pub number: i64,
    pub der: Vec<u8>,
    pub this_update: i64,
    pub next_update: i64,
    /// How many revoked certificates it lists (a newer revocation makes it stale).
    pub revoked_count: i64,
}

#[derive(Debug, Clone)]
pub struct DepartmentRecord {
    pub code: String,
    pub name: String,
    pub ca_serial: String,
    pub created_at: i64,
}

/// An API key: only the SHA-256 of the token is stored.
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: String,
    pub token_hash: Vec<u8>,
    pub role: Role,
    pub department_code: Option<String>,
    pub label: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A licence type of the catalogue (证照目录).
#[derive(Debug, Clone)]
pub struct LicenceTypeRecord {
    /// Department credit code (18) + 3-digit sequence.
    pub type_code: String,
    pub department_code: String,
    pub seq: i64,
    pub name: String,
    /// JSON array of `{"key","label","required"}`.
    pub fields: String,
    pub holder_kind: String,
    pub validity_days: Option<i64>,
    pub token_omits_holder_code: bool,
    pub created_at: i64,
}

/// An issued licence. Dates are `YYYY-MM-DD` (China Standard Time).
#[derive(Debug, Clone)]
pub struct LicenceRecord {
    pub identifier: String,
    pub type_code: String,
    pub number: String,
    pub holder_name: String,
    pub holder_code_type: String,
    pub holder_code: String,
    /// Keyed hash of the holder code: the index for holder queries and what the log records.
    pub holder_hash: String,
    pub issuer_code: String,
    pub issue_date: String,
    pub valid_from: String,
    pub valid_until: Option<String>,
    pub area_code: Option<String>,
    /// Canonical JSON object of the face fields (照面信息).
    pub face: String,
    /// Stored status (expiry is derived from the dates).
    pub status: LicenceState,
    pub status_reason: Option<String>,
    pub status_at: Option<i64>,
    pub previous_identifier: Option<String>,
    pub signer_serial: String,
    pub token: String,
    /// The SD-JWT with every disclosure (the holder's copy); `None` for licences issued before
    /// selective disclosure.
    pub sd_jwt: Option<String>,
    pub created_at: i64,
}

/// What the public read path keeps in memory of a licence (`licence::public_view`): only what
/// anyone with its identifier may see, the holder already masked; no token, no face.
#[derive(Debug, Clone)]
pub struct LicenceView {
    pub identifier: String,
    pub type_code: String,
    pub number: String,
    pub masked_holder_name: String,
    pub masked_holder_code: String,
    pub issuer_code: String,
    pub issue_date: String,
    pub valid_from: String,
    pub valid_until: Option<String>,
    pub status: LicenceState,
    pub status_at: Option<i64>,
}

/// Metadata of a seal's appearance images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppearanceState {
    /// (SHA-256, approved at, approved by) of the image in use.
    pub approved: Option<(String, i64, Option<String>)>,
    /// (SHA-256, uploaded at, uploaded by) of the upload waiting for approval.
    pub pending: Option<(String, i64, Option<String>)>,
}

/// An electronic seal (电子印章): its certificate holds the key that seals documents.
#[derive(Debug, Clone)]
pub struct SealRecord {
    pub id: String,
    pub department_code: String,
    pub name: String,
    /// `official`, `contract`, `finance`, `invoice` or `other`.
    pub kind: String,
    pub certificate_serial: String,
    pub created_at: i64,
}

/// A seal's national twin (issue 15): its SM2 certificate and its GB/T 38540 seal (DER).
#[derive(Debug, Clone)]
pub struct SealEslRecord {
    pub seal_id: String,
    pub certificate_serial: String,
    pub esl: Vec<u8>,
    pub created_at: i64,
}

/// An issuance log entry to append; its index is assigned in the writing transaction.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The canonical entry bytes that are hashed into the Merkle tree.
    pub entry: Vec<u8>,
    pub leaf_hash: [u8; 32],
    pub event_type: String,
    pub department_code: Option<String>,
    pub subject: String,
    pub created_at: i64,
}

/// A stored log entry.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub index: u64,
    pub entry: Vec<u8>,
    pub leaf_hash: Vec<u8>,
    pub event_type: String,
    pub department_code: Option<String>,
    pub subject: String,
    pub created_at: i64,
}

/// Filters of an auditor's log search; `after` is the cursor (exclusive index).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub department_code: Option<String>,
    pub event_type: Option<String>,
    pub subject: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub after: Option<u64>,
    pub limit: u32,
}

/// A signed checkpoint of the log.
#[derive(Debug, Clone)]
pub struct CheckpointRecord {
    pub size: u64,
    pub root: Vec<u8>,
    pub note: String,
    pub created_at: i64,
}

/// One change inside a [`WriteSet`].
#[derive(Debug, Clone)]
pub enum Change {
    /// Insert a meta value; fails with `Conflict` when the key exists.
    InsertMeta {
        key: String,
        value: Vec<u8>,
    },
    InsertKey(StoredKey),
    /// The department's current CA certificate (renewed, or replacing a revoked one).
    SetDepartmentCa {
        code: String,
        serial: String,
    },
    /// The stored checkpoint of `size` (and `root`) signed again, by a new log key under a new
    /// origin (`trustd log rotate`); `NotFound` when there is no such checkpoint.
    SetCheckpointNote {
        size: u64,
        root: Vec<u8>,
        note: String,
    },
    /// A stored private key encrypted again (under the current master key; `trustd rekey`).
    ResealKey {
        id: String,
        sealed: Vec<u8>,
    },
    /// An installation value replaced (`trustd rekey`: the sealed check value and PII salt).
    SetMeta {
        key: String,
        value: Vec<u8>,
    },
    InsertCertificate(CertificateRecord),
    InsertDepartment(DepartmentRecord),
    InsertApiKey(ApiKeyRecord),
    /// Replace the token hash of an existing key (the admin token given by `TRUSTD_ADMIN_TOKEN`).
    SetApiKeyHash {
        id: String,
        token_hash: Vec<u8>,
    },
    /// Revoke an active key; `NotFound` when there is no active key with that id.
    RevokeApiKey {
        id: String,
        at: i64,
    },
    InsertLicenceType(LicenceTypeRecord),
    InsertSeal(SealRecord),
    InsertSealEsl(SealEslRecord),
    /// A seal's new certificate (its department's CA was renewed); `NotFound` if no seal.
    SetSealCertificate {
        seal_id: String,
        serial: String,
    },
    /// Revoke a certificate that is not revoked yet; `NotFound` otherwise.
    RevokeCertificate {
        serial: String,
        at: i64,
        reason: String,
        invalidity_date: Option<i64>,
    },
    /// A new trust anchor; `Conflict` when the same certificate is registered already.
    InsertTrustAnchor(TrustAnchorRecord),
    /// Disable or enable a registered trust anchor; `NotFound` if there is none.
    SetTrustAnchorDisabled {
        id: String,
        disabled: bool,
    },
    /// Remove a registered trust anchor; `NotFound` if there is none.
    DeleteTrustAnchor {
        id: String,
    },
    /// A new CRL; `Conflict` when another instance stored that number first.
    InsertCrl(CrlRecord),
    /// Set (or replace) a seal's uploaded PNG appearance, pending until an admin approves it.
    SetSealAppearance {
        seal_id: String,
        png: Vec<u8>,
        sha256: String,
        at: i64,
        by: String,
    },
    /// Make the pending upload with this SHA-256 the seal's appearance; `NotFound` when the
    /// pending upload is not (or no longer) that image.
    ApproveSealAppearance {
        seal_id: String,
        sha256: String,
        at: i64,
        by: String,
    },
    InsertLicence(Box<LicenceRecord>),
    /// Change a licence's status, only if it is still `from`; `NotFound` otherwise.
    SetLicenceStatus {
        identifier: String,
        from: LicenceState,
        to: LicenceState,
        reason: String,
        at: i64,
    },
}

/// Changes and the log events that record them, committed atomically.
#[derive(Debug, Clone, Default)]
pub struct WriteSet {
    pub changes: Vec<Change>,
    pub events: Vec<NewEvent>,
}

impl WriteSet {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn change(mut self, change: Change) -> Self {
        self.changes.push(change);
        self
    }
    pub fn event(mut self, event: NewEvent) -> Self {
        self.events.push(event);
        self
    }
    /// Another write set's changes and events after these.
    pub fn append(mut self, other: WriteSet) -> Self {
        self.changes.extend(other.changes);
        self.events.extend(other.events);
        self
    }
}

/// Complete subtree hash: `level` ≥ 1 covers leaves `[index·2^level, (index+1)·2^level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

/// The repository: everything the services need from the database.
#[async_trait]
pub trait Repository: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Applies changes and appends their events in one transaction; returns the log indices.
    async fn apply(&self, writes: WriteSet) -> Result<Vec<u64>, StoreError>;

    async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn key(&self, id: &str) -> Result<Option<StoredKey>, StoreError>;
    /// Every stored private key (sealed), for `trustd rekey`.
    async fn all_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    async fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError>;
    /// The revoked certificates a CA (`root` or a department code) issued.
    async fn revoked_certificates(
        &self,
        issuer: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError>;
    /// The registered external trust anchors.
    async fn trust_anchors(&self) -> Result<Vec<TrustAnchorRecord>, StoreError>;
    /// The CA's newest CRL.
    async fn latest_crl(&self, ca: &str) -> Result<Option<CrlRecord>, StoreError>;
    async fn department(&self, code: &str) -> Result<Option<DepartmentRecord>, StoreError>;
    /// Departments ordered by code, after the cursor code.
    async fn departments(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DepartmentRecord>, StoreError>;
    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Certificates of one kind (e.g. `licence-signer`), optionally of one department.
    async fn certificates_of_kind(
        &self,
        kind: CertKind,
        department: Option<&str>,
    ) -> Result<Vec<CertificateRecord>, StoreError>;

    async fn seal(&self, id: &str) -> Result<Option<SealRecord>, StoreError>;
    async fn seals_of(&self, department: &str) -> Result<Vec<SealRecord>, StoreError>;
    /// Every seal of the installation (for the start that gives old seals their SM2 twin).
    async fn all_seals(&self) -> Result<Vec<SealRecord>, StoreError>;
    /// The seal's SM2 certificate and GB/T 38540 seal, if it has them.
    async fn seal_esl(&self, id: &str) -> Result<Option<SealEslRecord>, StoreError>;
    /// The approved PNG appearance of the seal, if any (what stamping uses).
    async fn seal_appearance(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The seal's appearance: approved image and pending upload, without the image bytes.
    async fn seal_appearance_state(&self, id: &str) -> Result<AppearanceState, StoreError>;
    /// The PNG an operator uploaded that waits for approval, if any.
    async fn seal_appearance_upload(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    async fn licence_types(&self) -> Result<Vec<LicenceTypeRecord>, StoreError>;
    async fn licence_type(&self, type_code: &str) -> Result<Option<LicenceTypeRecord>, StoreError>;
    /// Highest sequence number of a department's licence types (0 when none).
    async fn max_licence_type_seq(&self, department: &str) -> Result<i64, StoreError>;
    async fn licence(&self, identifier: &str) -> Result<Option<LicenceRecord>, StoreError>;
    /// Changes logged after index `after` that in-memory views must forget (licence
    /// suspensions, revocations and reinstatements; API key revocations and replacements;
    /// what changes a seal's stamping: revoked certificates, renewed CAs, recertified seals,
    /// approved images, new roots, new master keys), as
    /// (index, event type, subject), oldest first, at most `limit`.
    async fn view_changes(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(u64, String, String)>, StoreError>;
    async fn licences_by_holder(&self, holder_hash: &str)
        -> Result<Vec<LicenceRecord>, StoreError>;
    /// Index of the first log entry of `event_type` about `subject`.
    async fn event_index(&self, event_type: &str, subject: &str)
        -> Result<Option<u64>, StoreError>;

    /// Number of entries in the log (committed, indices `0..size`).
    async fn log_size(&self) -> Result<u64, StoreError>;
    async fn events(&self, start: u64, end: u64) -> Result<Vec<EventRecord>, StoreError>;
    async fn search_events(&self, query: &EventQuery) -> Result<Vec<EventRecord>, StoreError>;
    /// Leaf hashes of entries `start..end`.
    async fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<[u8; 32]>, StoreError>;
    /// Hashes of the given nodes (level 0 = leaf hashes); missing nodes are absent from the answer.
    async fn nodes(&self, ids: &[NodeId]) -> Result<Vec<(NodeId, [u8; 32])>, StoreError>;

    /// Size of the tree whose complete-subtree hashes are stored and checkpointed.
    async fn integrated_size(&self) -> Result<u64, StoreError>;
    /// Stores new complete-subtree hashes, the new integrated size and its checkpoint, atomically,
    /// and only if the integrated size is still `from_size` (so two integrators cannot both write).
    async fn store_integration(
        &self,
        from_size: u64,
        nodes: &[(NodeId, [u8; 32])],
        checkpoint: &CheckpointRecord,
    ) -> Result<bool, StoreError>;
    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>, StoreError>;
    async fn checkpoint_at(&self, size: u64) -> Result<Option<CheckpointRecord>, StoreError>;
    /// Stored hashes of tree level `level` ≥ 1, indices `start..end` (a tile's worth).
    async fn node_range(
        &self,
        level: u8,
        start: u64,
        end: u64,
    ) -> Result<Vec<[u8; 32]>, StoreError>;

    /// Keeps a witness's verified cosignature line of the checkpoint of `size` (the first one
    /// kept stays).
    async fn add_cosignature(
        &self,
        size: u64,
        witness: &str,
        line: &str,
        created_at: i64,
    ) -> Result<(), StoreError>;
    /// The cosignature lines of the checkpoint of `size`, as (witness, line).
    async fn cosignatures(&self, size: u64) -> Result<Vec<(String, String)>, StoreError>;
    /// The largest checkpoint size `witness` cosigned.
    async fn cosigned_size(&self, witness: &str) -> Result<Option<u64>, StoreError>;
    /// The highest CRL number of every CA that has signed one.
    async fn crl_numbers(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// The highest migration applied.
    async fn schema_version(&self) -> Result<i64, StoreError>;
    /// A consistent copy of the whole database in the new file `path` while it is in use
    /// (SQLite `VACUUM INTO`); PostgreSQL: `Unsupported` (use pg_basebackup or pg_dump).
    async fn snapshot_to(&self, path: &std::path::Path) -> Result<(), StoreError>;
    /// The largest checkpoint size that at least `quorum` of `witnesses` cosigned.
    async fn witnessed_size(
        &self,
        witnesses: &[String],
        quorum: usize,
    ) -> Result<Option<u64>, StoreError>;
}
