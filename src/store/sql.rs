//! The SQL repository over sqlx's `Any` driver: the same portable SQL (numbered `$n`
//! parameters, BIGINT/INTEGER, TEXT, BLOB/BYTEA) runs on SQLite and PostgreSQL. What differs per
//! backend is set up here: SQLite pragmas and a single writer connection (SQLite allows one
//! writer at a time; one connection avoids busy-retry storms), and PostgreSQL's advisory lock
//! around migrations so that several instances can start at once.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Acquire, AnyPool, Executor, Row};
use tokio::sync::{mpsc, oneshot};

use super::{
    ApiKeyRecord, AppearanceState, Backend, CertKind, CertificateRecord, Change, CheckpointRecord,
    CrlRecord, DepartmentRecord, EventQuery, EventRecord, LicenceRecord, LicenceState,
    LicenceTypeRecord, NodeId, Repository, Role, SealRecord, StoreError, StoredKey,
    TrustAnchorRecord, WriteSet,
};

/// Embedded migrations: (version, SQLite text, PostgreSQL text).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        include_str!("../../migrations/sqlite/0001_foundation.sql"),
        include_str!("../../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        include_str!("../../migrations/sqlite/0002_licences.sql"),
        include_str!("../../migrations/postgres/0002_licences.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_seals.sql"),
        include_str!("../../migrations/postgres/0003_seals.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite/0004_seal_appearances.sql"),
        include_str!("../../migrations/postgres/0004_seal_appearances.sql"),
    ),
    (
        5,
        include_str!("../../migrations/sqlite/0005_revocation.sql"),
        include_str!("../../migrations/postgres/0005_revocation.sql"),
    ),
    (
        6,
        include_str!("../../migrations/sqlite/0006_trust_anchors.sql"),
        include_str!("../../migrations/postgres/0006_trust_anchors.sql"),
    ),
    (
        7,
        include_str!("../../migrations/sqlite/0007_trust_anchor_policy.sql"),
        include_str!("../../migrations/postgres/0007_trust_anchor_policy.sql"),
    ),
    (
        8,
        include_str!("../../migrations/sqlite/0008_privacy.sql"),
        include_str!("../../migrations/postgres/0008_privacy.sql"),
    ),
];

/// Arbitrary constant naming trustd's migration lock in `pg_advisory_xact_lock`.
const PG_MIGRATION_LOCK: i64 = 0x7472_7573_7464_0001;

/// Most write sets committed together in one transaction (group commit).
const MAX_GROUP: usize = 256;

struct WriteJob {
    writes: WriteSet,
    reply: oneshot::Sender<Result<Vec<u64>, StoreError>>,
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

pub struct SqlStore {
    backend: Backend,
    /// All writes go through this pool (one connection on SQLite).
    writer: AnyPool,
    /// Write sets waiting for the group-commit writer.
    jobs: mpsc::Sender<WriteJob>,
    /// Reads; the same pool as `writer` on PostgreSQL.
    reader: AnyPool,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend)
            .finish()
    }
}

fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(db.constraint().unwrap_or("unique").to_owned());
        }
    }
    StoreError::Database(e)
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} out of range")))
}

fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} is negative")))
}

fn hash32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("stored hash is not 32 bytes".into()))
}

impl SqlStore {
    /// Connects and runs the migrations. `url` is `sqlite://…` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or_else(|| {
            StoreError::Corrupt("database URL must start with sqlite: or postgres:".into())
        })?;
        let store: (AnyPool, AnyPool) = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                let options = || {
                    AnyPoolOptions::new()
                        .acquire_timeout(Duration::from_secs(30))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                conn.execute(sqlx::raw_sql(SQLITE_PRAGMAS)).await?;
                                Ok(())
                            })
                        })
                };
                let writer = options()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .map_err(map_err)?;
                let reader = options()
                    .max_connections(8)
                    .connect(&url)
                    .await
                    .map_err(map_err)?;
                (writer, reader)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await
                    .map_err(map_err)?;
                (pool.clone(), pool)
            }
        };
        let (writer, reader) = store;
        let (jobs, queue) = mpsc::channel(4 * MAX_GROUP);
        let store = SqlStore {
            backend,
            writer: writer.clone(),
            jobs,
            reader,
        };
        store.migrate().await?;
        tokio::spawn(group_commit(writer, queue));
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_MIGRATION_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.execute(sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        ))
        .await
        .map_err(map_err)?;
        for (version, sqlite, postgres) in MIGRATIONS {
            let applied = sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            if applied.is_some() {
                continue;
            }
            let text = match self.backend {
                Backend::Sqlite => *sqlite,
                Backend::Postgres => *postgres,
            };
            tx.execute(sqlx::raw_sql(text)).await.map_err(map_err)?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(time::OffsetDateTime::now_utc().unix_timestamp())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    /// Closes the pools (graceful shutdown, tests).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

async fn apply_change(conn: &mut sqlx::AnyConnection, change: &Change) -> Result<(), StoreError> {
    match change {
        Change::InsertMeta { key, value } => {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)")
                .bind(key)
                .bind(value)
                .execute(conn)
                .await
                .map_err(map_err)?;
        }
        Change::InsertKey(k) => {
            sqlx::query(
                "INSERT INTO keys (id, algorithm, public_key, sealed_private_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&k.id)
            .bind(&k.algorithm)
            .bind(&k.public_key)
            .bind(&k.sealed_private_key)
            .bind(k.created_at)
            .execute(conn)
            .await
            .map_err(map_err)?;
        }
        Change::InsertCertificate(c) => {
            sqlx::query(
                "INSERT INTO certificates (serial, issuer, kind, subject, department_code, key_id, der, \
                 not_before, not_after, revoked_at, revocation_reason, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&c.serial)
            .bind(&c.issuer)
            .bind(c.kind.as_str())
            .bind(&c.subject)
            .bind(&c.department_code)
            .bind(&c.key_id)
            .bind(&c.der)
            .bind(c.not_before)
            .bind(c.not_after)
            .bind(c.revoked_at)
            .bind(&c.revocation_reason)
            .bind(c.created_at)
            .execute(conn)
            .await
            .map_err(map_err)?;
        }
        Change::InsertDepartment(d) => {
            sqlx::query("INSERT INTO departments (code, name, ca_serial, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&d.code)
                .bind(&d.name)
                .bind(&d.ca_serial)
                .bind(d.created_at)
                .execute(conn)
                .await
                .map_err(map_err)?;
        }
        Change::InsertApiKey(k) => {
            sqlx::query(
                "INSERT INTO api_keys (id, token_hash, role, department_code, label, created_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&k.id)
            .bind(&k.token_hash)
            .bind(k.role.as_str())
            .bind(&k.department_code)
            .bind(&k.label)
            .bind(k.created_at)
            .bind(k.revoked_at)
            .execute(conn)
            .await
            .map_err(map_err)?;
        }
        Change::SetApiKeyHash { id, token_hash } => {
            let done = sqlx::query("UPDATE api_keys SET token_hash = $1 WHERE id = $2")
                .bind(token_hash)
                .bind(id)
                .execute(conn)
                .await
                .map_err(map_err)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::NotFound);
            }
        }
        Change::RevokeApiKey { id, at } => {
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(*at)
            .bind(id)
            .execute(conn)
            .await
            .map_err(map_err)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::NotFound);
            }
        }
        Change::InsertLicenceType(t) => {
            sqlx::query(
                "INSERT INTO licence_types (type_code, department_code, seq, name, fields, holder_kind, \
                 validity_days, token_omits_holder_code, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&t.type_code)
            .bind(&t.department_code)
            .bind(t.seq)
            .bind(&t.name)
            .bind(&t.fields)
            .bind(&t.holder_kind)
            .bind(t.validity_days)
            .bind(i64::from(t.token_omits_holder_code))
            .bind(t.created_at)
            .execute(conn)
            .await
            .map_err(map_err)?;
        }
        Change::SetSealAppearance {
            seal_id,
            png,
            sha256,
            at,
            by,
        } => {
            sqlx::query(
                "INSERT INTO seal_appearance_uploads (seal_id, png, sha256, uploaded_at, uploaded_by) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (seal_id) DO UPDATE SET png = excluded.png, sha256 = excluded.sha256, \
                 uploaded_at = excluded.uploaded_at, uploaded_by = excluded.uploaded_by",
            )
            .bind(seal_id)
            .bind(png)
            .bind(sha256)
            .bind(*at)
            .bind(by)
            .execute(conn)
            .await
            .map_err(map_err)?;
        }
        Change::ApproveSealAppearance {
            seal_id,
            sha256,
            at,
            by,
        } => {
            // SQLite needs the WHERE for INSERT … SELECT … ON CONFLICT to parse.
            let done = sqlx::query(
                "INSERT INTO seal_appearances (seal_id, png, sha256, updated_at, approved_by) \
                 SELECT seal_id, png, sha256, $3, $4 FROM seal_appearance_uploads \
                 WHERE seal_id = $1 AND sha256 = $2 \
                 ON CONFLICT (seal_id) DO UPDATE SET png = excluded.png, sha256 = excluded.sha256, \
                 updated_at = excluded.updated_at, approved_by = excluded.approved_by",
            )
            .bind(seal_id)
            .bind(sha256)
            .bind(*at)
            .bind(by)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM seal_appearance_uploads WHERE seal_id = $1")
                .bind(seal_id)
                .execute(conn)
                .await
                .map_err(map_err)?;
        }
        Change::RevokeCertificate {
            serial,
            at,
            reason,
            invalidity_date,
        } => {
            let done = sqlx::query(
                "UPDATE certificates SET revoked_at = $1, revocation_reason = $2, invalidity_date = $3 \
                 WHERE serial = $4 AND revoked_at IS NULL",
            )
            .bind(*at)
            .bind(reason)
            .bind(*invalidity_date)
            .bind(serial)
            .execute(conn)
            .await
            .map_err(map_err)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        Change::SetTrustAnchorDisabled { id, disabled } => {
            let done = sqlx::query("UPDATE trust_anchors SET disabled = $1 WHERE id = $2")
                .bind(i64::from(*disabled))
                .bind(id)
                .execute(conn)
                .await
                .map_err(map_err)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        Change::DeleteTrustAnchor { id } => {
            let done = sqlx::query("DELETE FROM trust_anchors WHERE id = $1")
                .bind(id)
                .execute(conn)
                .await
                .map_err(map_err)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
        }
        Change::InsertTrustAnchor(t) => {
            sqlx::query(
                "INSERT INTO trust_anchors (id, label, der, sha256, subject, not_before, not_after, created_at, \
                 purposes, revocation_required, disabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&t.id)
            .bind(&t.label)
            .bind(&t.der)
            .bind(&t.sha256)
            .bind(&t.subject)
            .bind(t.not_before)
            .bind(t.not_after)
            .bind(t.created_at)
            .bind(&t.purposes)
            .bind(i64::from(t.revocation_required))
            .bind(i64::from(t.disabled))
            .execute(conn)
            .await
            .map_err(map_err)?;
        }
        Change::InsertCrl(crl) => {
            sqlx::query(
                "INSERT INTO crls (ca, number, der, this_update, next_update, revoked_count) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&crl.ca)
            .bind(crl.number)
            .bind(&crl.der)
            .bind(crl.this_update)
            .bind(crl.next_update)
            .bind(crl.revoked_count)
            .execute(conn)
            .await
            .map_err(map_err)?;
        }
        Change::InsertSeal(seal) => {
            sqlx::query(
                "INSERT INTO seals (id, department_code, name, kind, certificate_serial, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&seal.id)
            .bind(&seal.department_code)
            .bind(&seal.name)
            .bind(&seal.kind)
            .bind(&seal.certificate_serial)
            .bind(seal.created_at)
            .execute(conn)
            .await
            .map_err(map_err)?;
        }
        Change::InsertLicence(l) => {
            sqlx::query(&format!(
                "INSERT INTO licences ({LICENCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                 $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
            ))
            .bind(&l.identifier)
            .bind(&l.type_code)
            .bind(&l.number)
            .bind(&l.holder_name)
            .bind(&l.holder_code_type)
            .bind(&l.holder_code)
            .bind(&l.holder_hash)
            .bind(&l.issuer_code)
            .bind(&l.issue_date)
            .bind(&l.valid_from)
            .bind(&l.valid_until)
            .bind(&l.area_code)
            .bind(&l.face)
            .bind(l.status.as_str())
            .bind(&l.status_reason)
            .bind(l.status_at)
            .bind(&l.previous_identifier)
            .bind(&l.signer_serial)
            .bind(&l.token)
            .bind(l.created_at)
            .bind(&l.sd_jwt)
            .execute(conn)
            .await
            .map_err(map_err)?;
        }
        Change::SetLicenceStatus {
            identifier,
            from,
            to,
            reason,
            at,
        } => {
            let done = sqlx::query(
                "UPDATE licences SET status = $1, status_reason = $2, status_at = $3 WHERE identifier = $4 AND status = $5",
            )
            .bind(to.as_str())
            .bind(reason)
            .bind(*at)
            .bind(identifier)
            .bind(from.as_str())
            .execute(conn)
            .await
            .map_err(map_err)?;
            if done.rows_affected() != 1 {
                return Err(StoreError::NotFound);
            }
        }
    }
    Ok(())
}

const LICENCE_COLUMNS: &str = "identifier, type_code, number, holder_name, holder_code_type, holder_code, \
     holder_hash, issuer_code, issue_date, valid_from, valid_until, area_code, face, status, status_reason, \
     status_at, previous_identifier, signer_serial, token, created_at, sd_jwt";

fn seal_from_row(row: &AnyRow) -> Result<SealRecord, sqlx::Error> {
    Ok(SealRecord {
        id: row.try_get("id")?,
        department_code: row.try_get("department_code")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        certificate_serial: row.try_get("certificate_serial")?,
        created_at: row.try_get("created_at")?,
    })
}

fn licence_type_from_row(row: &AnyRow) -> Result<LicenceTypeRecord, sqlx::Error> {
    Ok(LicenceTypeRecord {
        type_code: row.try_get("type_code")?,
        department_code: row.try_get("department_code")?,
        seq: row.try_get("seq")?,
        name: row.try_get("name")?,
        fields: row.try_get("fields")?,
        holder_kind: row.try_get("holder_kind")?,
        validity_days: row.try_get("validity_days")?,
        token_omits_holder_code: row.try_get::<i64, _>("token_omits_holder_code")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

fn licence_from_row(row: &AnyRow) -> Result<LicenceRecord, sqlx::Error> {
    Ok(LicenceRecord {
        identifier: row.try_get("identifier")?,
        type_code: row.try_get("type_code")?,
        number: row.try_get("number")?,
        holder_name: row.try_get("holder_name")?,
        holder_code_type: row.try_get("holder_code_type")?,
        holder_code: row.try_get("holder_code")?,
        holder_hash: row.try_get("holder_hash")?,
        issuer_code: row.try_get("issuer_code")?,
        issue_date: row.try_get("issue_date")?,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        area_code: row.try_get("area_code")?,
        face: row.try_get("face")?,
        status: {
            let status: String = row.try_get("status")?;
            LicenceState::parse(&status).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown licence status {status:?}").into())
            })?
        },
        status_reason: row.try_get("status_reason")?,
        status_at: row.try_get("status_at")?,
        previous_identifier: row.try_get("previous_identifier")?,
        signer_serial: row.try_get("signer_serial")?,
        token: row.try_get("token")?,
        created_at: row.try_get("created_at")?,
        sd_jwt: row.try_get("sd_jwt")?,
    })
}

/// The group-commit writer: takes every write set waiting (up to [`MAX_GROUP`]), applies each
/// inside its own savepoint of one transaction (a failing set is rolled back alone and gets its
/// error), commits once and only then answers each caller. One fsync acknowledges many writes,
/// and on PostgreSQL the log's counter row is locked once per group rather than once per write.
async fn group_commit(pool: AnyPool, mut queue: mpsc::Receiver<WriteJob>) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut batch, MAX_GROUP).await > 0 {
        let jobs: Vec<WriteJob> = std::mem::take(&mut batch);
        match commit_group(&pool, &jobs).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = jobs.len(), "group commit failed");
                let detail = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Unavailable(format!(
                        "commit failed: {detail}"
                    ))));
                }
            }
        }
    }
}

async fn commit_group(
    pool: &AnyPool,
    jobs: &[WriteJob],
) -> Result<Vec<Result<Vec<u64>, StoreError>>, StoreError> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut savepoint = tx.begin().await.map_err(map_err)?;
        match apply_writes(&mut savepoint, &job.writes).await {
            Ok(indices) => {
                savepoint.commit().await.map_err(map_err)?;
                results.push(Ok(indices));
            }
            Err(e) => {
                savepoint.rollback().await.map_err(map_err)?;
                results.push(Err(e));
            }
        }
    }
    tx.commit().await.map_err(map_err)?;
    Ok(results)
}

/// Applies one write set's changes and appends its events (inside the caller's transaction).
async fn apply_writes(
    conn: &mut sqlx::AnyConnection,
    writes: &WriteSet,
) -> Result<Vec<u64>, StoreError> {
    for change in &writes.changes {
        apply_change(conn, change).await?;
    }
    let mut indices = Vec::with_capacity(writes.events.len());
    for event in &writes.events {
        // The row lock taken by this UPDATE serialises writers across instances (PostgreSQL)
        // until commit, so indices are dense and the one returned is final.
        let size: i64 =
            sqlx::query("UPDATE log_state SET size = size + 1 WHERE id = 1 RETURNING size")
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err)?
                .try_get(0)
                .map_err(map_err)?;
        let index = size - 1;
        sqlx::query(&format!(
            "INSERT INTO events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(index)
        .bind(&event.entry)
        .bind(event.leaf_hash.as_slice())
        .bind(&event.event_type)
        .bind(&event.department_code)
        .bind(&event.subject)
        .bind(event.created_at)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        indices.push(to_u64(index)?);
    }
    Ok(indices)
}

fn key_from_row(row: &AnyRow) -> Result<StoredKey, sqlx::Error> {
    Ok(StoredKey {
        id: row.try_get("id")?,
        algorithm: row.try_get("algorithm")?,
        public_key: row.try_get("public_key")?,
        sealed_private_key: row.try_get("sealed_private_key")?,
        created_at: row.try_get("created_at")?,
    })
}

fn certificate_from_row(row: &AnyRow) -> Result<CertificateRecord, sqlx::Error> {
    Ok(CertificateRecord {
        serial: row.try_get("serial")?,
        issuer: row.try_get("issuer")?,
        kind: {
            let kind: String = row.try_get("kind")?;
            CertKind::parse(&kind).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown certificate kind {kind:?}").into())
            })?
        },
        subject: row.try_get("subject")?,
        department_code: row.try_get("department_code")?,
        key_id: row.try_get("key_id")?,
        der: row.try_get("der")?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        revoked_at: row.try_get("revoked_at")?,
        revocation_reason: row.try_get("revocation_reason")?,
        invalidity_date: row.try_get("invalidity_date")?,
        created_at: row.try_get("created_at")?,
    })
}

fn department_from_row(row: &AnyRow) -> Result<DepartmentRecord, sqlx::Error> {
    Ok(DepartmentRecord {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        ca_serial: row.try_get("ca_serial")?,
        created_at: row.try_get("created_at")?,
    })
}

fn api_key_from_row(row: &AnyRow) -> Result<ApiKeyRecord, sqlx::Error> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        token_hash: row.try_get("token_hash")?,
        role: {
            let role: String = row.try_get("role")?;
            Role::parse(&role)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role:?}").into()))?
        },
        department_code: row.try_get("department_code")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn event_from_row(row: &AnyRow) -> Result<EventRecord, StoreError> {
    Ok(EventRecord {
        index: to_u64(row.try_get("idx").map_err(map_err)?)?,
        entry: row.try_get("entry").map_err(map_err)?,
        leaf_hash: row.try_get("leaf_hash").map_err(map_err)?,
        event_type: row.try_get("event_type").map_err(map_err)?,
        department_code: row.try_get("department_code").map_err(map_err)?,
        subject: row.try_get("subject").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
    })
}

const EVENT_COLUMNS: &str =
    "idx, entry, leaf_hash, event_type, department_code, subject, created_at";

#[async_trait]
impl Repository for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn apply(&self, writes: WriteSet) -> Result<Vec<u64>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(WriteJob { writes, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))?
    }

    async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.map(|r| r.try_get("value")).transpose().map_err(map_err)
    }

    async fn key(&self, id: &str) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query("SELECT * FROM keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(key_from_row).transpose().map_err(map_err)
    }

    async fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM certificates WHERE serial = $1")
            .bind(serial)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref()
            .map(certificate_from_row)
            .transpose()
            .map_err(map_err)
    }

    async fn department(&self, code: &str) -> Result<Option<DepartmentRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM departments WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref()
            .map(department_from_row)
            .transpose()
            .map_err(map_err)
    }

    async fn departments(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DepartmentRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM departments WHERE code > $1 ORDER BY code LIMIT $2")
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(department_from_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref()
            .map(api_key_from_row)
            .transpose()
            .map_err(map_err)
    }

    async fn certificates_of_kind(
        &self,
        kind: CertKind,
        department: Option<&str>,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let rows = match department {
            Some(d) => sqlx::query("SELECT * FROM certificates WHERE kind = $1 AND department_code = $2 ORDER BY created_at")
                .bind(kind.as_str())
                .bind(d)
                .fetch_all(&self.reader)
                .await,
            None => sqlx::query("SELECT * FROM certificates WHERE kind = $1 ORDER BY created_at")
                .bind(kind.as_str())
                .fetch_all(&self.reader)
                .await,
        }
        .map_err(map_err)?;
        rows.iter()
            .map(certificate_from_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn seal(&self, id: &str) -> Result<Option<SealRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM seals WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(seal_from_row).transpose().map_err(map_err)
    }

    async fn revoked_certificates(
        &self,
        issuer: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM certificates WHERE issuer = $1 AND revoked_at IS NOT NULL ORDER BY serial",
        )
        .bind(issuer)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(certificate_from_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn trust_anchors(&self) -> Result<Vec<TrustAnchorRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM trust_anchors ORDER BY created_at, id LIMIT 1000")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| -> Result<TrustAnchorRecord, sqlx::Error> {
                Ok(TrustAnchorRecord {
                    id: r.try_get("id")?,
                    label: r.try_get("label")?,
                    der: r.try_get("der")?,
                    sha256: r.try_get("sha256")?,
                    subject: r.try_get("subject")?,
                    not_before: r.try_get("not_before")?,
                    not_after: r.try_get("not_after")?,
                    created_at: r.try_get("created_at")?,
                    purposes: r.try_get("purposes")?,
                    revocation_required: r.try_get::<i64, _>("revocation_required")? != 0,
                    disabled: r.try_get::<i64, _>("disabled")? != 0,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn latest_crl(&self, ca: &str) -> Result<Option<CrlRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM crls WHERE ca = $1 ORDER BY number DESC LIMIT 1")
            .bind(ca)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.map(|r| -> Result<CrlRecord, sqlx::Error> {
            Ok(CrlRecord {
                ca: r.try_get("ca")?,
                number: r.try_get("number")?,
                der: r.try_get("der")?,
                this_update: r.try_get("this_update")?,
                next_update: r.try_get("next_update")?,
                revoked_count: r.try_get("revoked_count")?,
            })
        })
        .transpose()
        .map_err(map_err)
    }

    async fn seal_appearance(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT png FROM seal_appearances WHERE seal_id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.map(|r| r.try_get::<Vec<u8>, _>("png"))
            .transpose()
            .map_err(map_err)
    }

    async fn seal_appearance_state(&self, id: &str) -> Result<AppearanceState, StoreError> {
        let read = |sql: &'static str| async move {
            let row = sqlx::query(sql)
                .bind(id)
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
            row.map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .transpose()
                .map_err(map_err)
        };
        Ok(AppearanceState {
            approved: read(
                "SELECT sha256, updated_at, approved_by FROM seal_appearances WHERE seal_id = $1",
            )
            .await?,
            pending: read(
                "SELECT sha256, uploaded_at, uploaded_by FROM seal_appearance_uploads WHERE seal_id = $1",
            )
            .await?,
        })
    }

    async fn seal_appearance_upload(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT png FROM seal_appearance_uploads WHERE seal_id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.map(|r| r.try_get::<Vec<u8>, _>("png"))
            .transpose()
            .map_err(map_err)
    }

    async fn seals_of(&self, department: &str) -> Result<Vec<SealRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM seals WHERE department_code = $1 ORDER BY created_at, id LIMIT 1000",
        )
        .bind(department)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(seal_from_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn licence_types(&self) -> Result<Vec<LicenceTypeRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM licence_types ORDER BY type_code")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(licence_type_from_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn licence_type(&self, type_code: &str) -> Result<Option<LicenceTypeRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM licence_types WHERE type_code = $1")
            .bind(type_code)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref()
            .map(licence_type_from_row)
            .transpose()
            .map_err(map_err)
    }

    async fn max_licence_type_seq(&self, department: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(seq), 0) FROM licence_types WHERE department_code = $1",
        )
        .bind(department)
        .fetch_one(&self.reader)
        .await
        .map_err(map_err)?;
        row.try_get::<i64, _>(0).map_err(map_err)
    }

    async fn licence(&self, identifier: &str) -> Result<Option<LicenceRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {LICENCE_COLUMNS} FROM licences WHERE identifier = $1"
        ))
        .bind(identifier)
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?;
        row.as_ref()
            .map(licence_from_row)
            .transpose()
            .map_err(map_err)
    }

    async fn licences_by_holder(
        &self,
        holder_hash: &str,
    ) -> Result<Vec<LicenceRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LICENCE_COLUMNS} FROM licences WHERE holder_hash = $1 ORDER BY created_at, identifier LIMIT 1000"
        ))
        .bind(holder_hash)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(licence_from_row)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn event_index(
        &self,
        event_type: &str,
        subject: &str,
    ) -> Result<Option<u64>, StoreError> {
        let row = sqlx::query("SELECT MIN(idx) FROM events WHERE subject = $1 AND event_type = $2")
            .bind(subject)
            .bind(event_type)
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?;
        row.try_get::<Option<i64>, _>(0)
            .map_err(map_err)?
            .map(to_u64)
            .transpose()
    }

    async fn log_size(&self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query("SELECT size FROM log_state WHERE id = 1")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?
            .try_get(0)
            .map_err(map_err)?;
        to_u64(size)
    }

    async fn events(&self, start: u64, end: u64) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE idx >= $1 AND idx < $2 ORDER BY idx"
        ))
        .bind(to_i64(start)?)
        .bind(to_i64(end)?)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn search_events(&self, q: &EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE idx > $1");
        let mut n = 1;
        let mut next = |column: &str, op: &str| {
            n += 1;
            format!(" AND {column} {op} ${n}")
        };
        let mut texts: Vec<&str> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        if let Some(d) = &q.department_code {
            sql.push_str(&next("department_code", "="));
            texts.push(d);
        }
        if let Some(t) = &q.event_type {
            sql.push_str(&next("event_type", "="));
            texts.push(t);
        }
        if let Some(s) = &q.subject {
            sql.push_str(&next("subject", "="));
            texts.push(s);
        }
        // Text parameters come first, then the integer ones, in the order they were numbered.
        if let Some(since) = q.since {
            sql.push_str(&next("created_at", ">="));
            ints.push(since);
        }
        if let Some(until) = q.until {
            sql.push_str(&next("created_at", "<"));
            ints.push(until);
        }
        sql.push_str(&format!(" ORDER BY idx LIMIT ${}", n + 1));
        let after = match q.after {
            Some(a) => to_i64(a)?,
            None => -1,
        };
        let mut query = sqlx::query(&sql).bind(after);
        for t in texts {
            query = query.bind(t);
        }
        for i in ints {
            query = query.bind(i);
        }
        let rows = query
            .bind(i64::from(q.limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        let rows =
            sqlx::query("SELECT leaf_hash FROM events WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(to_i64(start)?)
                .bind(to_i64(end)?)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
        rows.iter()
            .map(|r| hash32(&r.try_get::<Vec<u8>, _>(0).map_err(map_err)?))
            .collect()
    }

    async fn nodes(&self, ids: &[NodeId]) -> Result<Vec<(NodeId, [u8; 32])>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        let (leaves, inner): (Vec<&NodeId>, Vec<&NodeId>) = ids.iter().partition(|n| n.level == 0);
        if !leaves.is_empty() {
            let params: Vec<String> = (1..=leaves.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT idx, leaf_hash FROM events WHERE idx IN ({})",
                params.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for leaf in &leaves {
                query = query.bind(to_i64(leaf.index)?);
            }
            for row in query.fetch_all(&self.reader).await.map_err(map_err)? {
                let index = to_u64(row.try_get(0).map_err(map_err)?)?;
                let hash = hash32(&row.try_get::<Vec<u8>, _>(1).map_err(map_err)?)?;
                out.push((NodeId { level: 0, index }, hash));
            }
        }
        if !inner.is_empty() {
            let clauses: Vec<String> = (0..inner.len())
                .map(|i| format!("(level = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2))
                .collect();
            let sql = format!(
                "SELECT level, idx, hash FROM log_nodes WHERE {}",
                clauses.join(" OR ")
            );
            let mut query = sqlx::query(&sql);
            for node in &inner {
                query = query.bind(i64::from(node.level)).bind(to_i64(node.index)?);
            }
            for row in query.fetch_all(&self.reader).await.map_err(map_err)? {
                let level: i64 = row.try_get(0).map_err(map_err)?;
                let level =
                    u8::try_from(level).map_err(|_| StoreError::Corrupt("node level".into()))?;
                let index = to_u64(row.try_get(1).map_err(map_err)?)?;
                let hash = hash32(&row.try_get::<Vec<u8>, _>(2).map_err(map_err)?)?;
                out.push((NodeId { level, index }, hash));
            }
        }
        Ok(out)
    }

    async fn integrated_size(&self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query("SELECT integrated_size FROM log_state WHERE id = 1")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?
            .try_get(0)
            .map_err(map_err)?;
        to_u64(size)
    }

    async fn store_integration(
        &self,
        from_size: u64,
        nodes: &[(NodeId, [u8; 32])],
        checkpoint: &CheckpointRecord,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(map_err)?;
        // Compare-and-set on the integrated size: of two integrators racing, one wins.
        let done = sqlx::query(
            "UPDATE log_state SET integrated_size = $1 WHERE id = 1 AND integrated_size = $2",
        )
        .bind(to_i64(checkpoint.size)?)
        .bind(to_i64(from_size)?)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() != 1 {
            tx.rollback().await.map_err(map_err)?;
            return Ok(false);
        }
        for chunk in nodes.chunks(300) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO log_nodes (level, idx, hash) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (id, hash) in chunk {
                query = query
                    .bind(i64::from(id.level))
                    .bind(to_i64(id.index)?)
                    .bind(hash.to_vec());
            }
            query.execute(&mut *tx).await.map_err(map_err)?;
        }
        sqlx::query(
            "INSERT INTO log_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(to_i64(checkpoint.size)?)
        .bind(&checkpoint.root)
        .bind(&checkpoint.note)
        .bind(checkpoint.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT size, root, note, created_at FROM log_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?;
        row.map(|r| -> Result<CheckpointRecord, StoreError> {
            Ok(CheckpointRecord {
                size: to_u64(r.try_get("size").map_err(map_err)?)?,
                root: r.try_get("root").map_err(map_err)?,
                note: r.try_get("note").map_err(map_err)?,
                created_at: r.try_get("created_at").map_err(map_err)?,
            })
        })
        .transpose()
    }
}
