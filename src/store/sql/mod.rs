//! The SQL repository over sqlx's `Any` driver: the same portable SQL (numbered `$n`
//! parameters, BIGINT/INTEGER, TEXT, BLOB/BYTEA) runs on SQLite and PostgreSQL. What differs per
//! backend is set up here: SQLite pragmas and a single writer connection (SQLite allows one
//! writer at a time; one connection avoids busy-retry storms), and PostgreSQL's advisory lock
//! around migrations so that several instances can start at once.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::{mpsc, oneshot};

use super::{
    ApiKeyRecord, AppearanceState, Backend, CertKind, CertificateRecord, Change, CheckpointRecord,
    CrlRecord, DepartmentRecord, EventQuery, EventRecord, LicenceRecord, LicenceState,
    LicenceTypeRecord, NodeId, Repository, Role, SealEslRecord, SealRecord, StoreError, StoredKey,
    TrustAnchorRecord, WriteSet,
};

mod migrate;
mod rows;
mod tokens;
mod write;

use rows::*;
use write::group_commit;

/// Most write sets committed together in one transaction (group commit).
const MAX_GROUP: usize = 256;

struct WriteJob {
    writes: WriteSet,
    reply: oneshot::Sender<Result<Vec<u64>, StoreError>>,
}

/// WAL with every commit fsynced, and a checkpoint every 16 MiB of WAL rather than 4 MiB (a
/// page written many times between two checkpoints is copied once).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 4000;";

/// The page cache of each connection: 32 MiB at most (SQLite's default is 2 MiB; the indices of
/// a table of random licence identifiers no longer fit once it holds a few hundred thousand
/// rows). The writer's fills as the database grows; a reader's only with what it reads (most
/// public reads are served from memory above the database).
const SQLITE_CACHE: &str = "PRAGMA cache_size = -32768;";

/// The writer's: its page cache, and its statement journals in memory. Each multi-row insert
/// inside the group's transaction keeps the pages it changes in a statement journal (to undo
/// that statement alone on a constraint error); past 64 KiB SQLite spilled it to a temporary
/// file, and writing that file was 5 % of the writer's time. A group's journal is bounded by
/// the group (`MAX_GROUP` write sets).
const SQLITE_WRITER: &str = "PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;";

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

/// A query of the `Any` driver with its bound arguments.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

impl SqlStore {
    /// The row a read finds, if any, as a record.
    async fn one<T>(
        &self,
        query: AnyQuery<'_>,
        record: fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Option<T>, StoreError> {
        let row = query.fetch_optional(&self.reader).await.map_err(map_err)?;
        row.as_ref().map(record).transpose().map_err(map_err)
    }

    /// Every row a read finds, as records.
    async fn all<T>(
        &self,
        query: AnyQuery<'_>,
        record: fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = query.fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter()
            .map(record)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

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
                let options = |extra: &'static str| {
                    AnyPoolOptions::new()
                        .acquire_timeout(Duration::from_secs(30))
                        // A file on this machine: no ping (a round trip to the connection's
                        // worker thread) before each use.
                        .test_before_acquire(false)
                        .after_connect(move |conn, _| {
                            Box::pin(async move {
                                conn.execute(sqlx::raw_sql(SQLITE_PRAGMAS)).await?;
                                if !extra.is_empty() {
                                    conn.execute(sqlx::raw_sql(extra)).await?;
                                }
                                Ok(())
                            })
                        })
                };
                let writer = options(SQLITE_WRITER)
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .map_err(map_err)?;
                let reader = options(SQLITE_CACHE)
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

    /// Closes the pools (graceful shutdown, tests).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

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
        self.one(
            sqlx::query("SELECT * FROM keys WHERE id = $1").bind(id),
            key_from_row,
        )
        .await
    }

    async fn all_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.all(sqlx::query("SELECT * FROM keys ORDER BY id"), key_from_row)
            .await
    }

    async fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
        self.one(
            sqlx::query("SELECT * FROM certificates WHERE serial = $1").bind(serial),
            certificate_from_row,
        )
        .await
    }

    async fn department(&self, code: &str) -> Result<Option<DepartmentRecord>, StoreError> {
        self.one(
            sqlx::query("SELECT * FROM departments WHERE code = $1").bind(code),
            department_from_row,
        )
        .await
    }

    async fn departments(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DepartmentRecord>, StoreError> {
        self.all(
            sqlx::query("SELECT * FROM departments WHERE code > $1 ORDER BY code LIMIT $2")
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit)),
            department_from_row,
        )
        .await
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.one(
            sqlx::query("SELECT * FROM api_keys WHERE id = $1").bind(id),
            api_key_from_row,
        )
        .await
    }

    async fn certificates_of_kind(
        &self,
        kind: CertKind,
        department: Option<&str>,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let query = match department {
            Some(d) => sqlx::query(
                "SELECT * FROM certificates WHERE kind = $1 AND department_code = $2 ORDER BY created_at",
            )
            .bind(kind.as_str())
            .bind(d),
            None => sqlx::query("SELECT * FROM certificates WHERE kind = $1 ORDER BY created_at")
                .bind(kind.as_str()),
        };
        self.all(query, certificate_from_row).await
    }

    async fn all_seals(&self) -> Result<Vec<SealRecord>, StoreError> {
        self.all(
            sqlx::query("SELECT * FROM seals ORDER BY created_at, id"),
            seal_from_row,
        )
        .await
    }

    async fn seal_esl(&self, id: &str) -> Result<Option<SealEslRecord>, StoreError> {
        self.one(
            sqlx::query("SELECT * FROM seal_esls WHERE seal_id = $1").bind(id),
            seal_esl_from_row,
        )
        .await
    }

    async fn seal(&self, id: &str) -> Result<Option<SealRecord>, StoreError> {
        self.one(
            sqlx::query("SELECT * FROM seals WHERE id = $1").bind(id),
            seal_from_row,
        )
        .await
    }

    async fn revoked_certificates(
        &self,
        issuer: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        self.all(sqlx::query(
            "SELECT * FROM certificates WHERE issuer = $1 AND revoked_at IS NOT NULL ORDER BY serial",
        )
        .bind(issuer), certificate_from_row).await
    }

    async fn trust_anchors(&self) -> Result<Vec<TrustAnchorRecord>, StoreError> {
        self.all(
            sqlx::query("SELECT * FROM trust_anchors ORDER BY created_at, id LIMIT 1000"),
            trust_anchor_from_row,
        )
        .await
    }

    async fn latest_crl(&self, ca: &str) -> Result<Option<CrlRecord>, StoreError> {
        self.one(
            sqlx::query("SELECT * FROM crls WHERE ca = $1 ORDER BY number DESC LIMIT 1").bind(ca),
            crl_from_row,
        )
        .await
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
        self.all(
            sqlx::query(
                "SELECT * FROM seals WHERE department_code = $1 ORDER BY created_at, id LIMIT 1000",
            )
            .bind(department),
            seal_from_row,
        )
        .await
    }

    async fn licence_types(&self) -> Result<Vec<LicenceTypeRecord>, StoreError> {
        self.all(
            sqlx::query("SELECT * FROM licence_types ORDER BY type_code"),
            licence_type_from_row,
        )
        .await
    }

    async fn licence_type(&self, type_code: &str) -> Result<Option<LicenceTypeRecord>, StoreError> {
        self.one(
            sqlx::query("SELECT * FROM licence_types WHERE type_code = $1").bind(type_code),
            licence_type_from_row,
        )
        .await
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

    async fn view_changes(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(u64, String, String)>, StoreError> {
        let after = i64::try_from(after).map_err(|_| StoreError::NotFound)?;
        let rows = sqlx::query(
            "SELECT idx, event_type, subject FROM events WHERE event_type IN \
             ('licence.suspended', 'licence.revoked', 'licence.reinstated', \
             'api_key.revoked', 'api_key.replaced', 'certificate.revoked', \
             'department.ca_renewed', 'seal.recertified', 'seal.appearance_approved', \
             'root.created', 'keys.rekeyed') \
             AND idx > $1 ORDER BY idx LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let idx: i64 = r.try_get(0).map_err(map_err)?;
                Ok((
                    to_u64(idx)?,
                    r.try_get(1).map_err(map_err)?,
                    r.try_get(2).map_err(map_err)?,
                ))
            })
            .collect()
    }

    async fn licence(&self, identifier: &str) -> Result<Option<LicenceRecord>, StoreError> {
        self.one(
            sqlx::query(&format!("{LICENCE_SELECT} WHERE l.identifier = $1")).bind(identifier),
            licence_from_row,
        )
        .await
    }

    async fn licences_by_holder(
        &self,
        holder_hash: &str,
    ) -> Result<Vec<LicenceRecord>, StoreError> {
        self.all(sqlx::query(&format!(
            "{LICENCE_SELECT} WHERE l.holder_hash = $1 ORDER BY l.created_at, l.identifier LIMIT 1000"
        ))
        .bind(holder_hash), licence_from_row).await
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
        // One read: the leaves from `events`, the inner nodes from `log_nodes`.
        let (leaves, inner): (Vec<&NodeId>, Vec<&NodeId>) = ids.iter().partition(|n| n.level == 0);
        let mut parts = Vec::new();
        if !leaves.is_empty() {
            let params: Vec<String> = (1..=leaves.len()).map(|i| format!("${i}")).collect();
            parts.push(format!(
                "SELECT CAST(0 AS BIGINT), idx, leaf_hash FROM events WHERE idx IN ({})",
                params.join(", ")
            ));
        }
        if !inner.is_empty() {
            let first = leaves.len();
            let clauses: Vec<String> = (0..inner.len())
                .map(|i| {
                    let n = first + 2 * i;
                    format!("(level = ${} AND idx = ${})", n + 1, n + 2)
                })
                .collect();
            parts.push(format!(
                "SELECT level, idx, hash FROM log_nodes WHERE {}",
                clauses.join(" OR ")
            ));
        }
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = parts.join(" UNION ALL ");
        let mut query = sqlx::query(&sql);
        for leaf in &leaves {
            query = query.bind(to_i64(leaf.index)?);
        }
        for node in &inner {
            query = query.bind(i64::from(node.level)).bind(to_i64(node.index)?);
        }
        let rows = query.fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let level: i64 = row.try_get(0).map_err(map_err)?;
                let level =
                    u8::try_from(level).map_err(|_| StoreError::Corrupt("node level".into()))?;
                let index = to_u64(row.try_get(1).map_err(map_err)?)?;
                let hash = hash32(&row.try_get::<Vec<u8>, _>(2).map_err(map_err)?)?;
                Ok((NodeId { level, index }, hash))
            })
            .collect()
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
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    async fn checkpoint_at(&self, size: u64) -> Result<Option<CheckpointRecord>, StoreError> {
        let row =
            sqlx::query("SELECT size, root, note, created_at FROM log_checkpoints WHERE size = $1")
                .bind(to_i64(size)?)
                .fetch_optional(&self.reader)
                .await
                .map_err(map_err)?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    async fn node_range(
        &self,
        level: u8,
        start: u64,
        end: u64,
    ) -> Result<Vec<[u8; 32]>, StoreError> {
        let rows = sqlx::query(
            "SELECT hash FROM log_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
        )
        .bind(i64::from(level))
        .bind(to_i64(start)?)
        .bind(to_i64(end)?)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| hash32(&r.try_get::<Vec<u8>, _>(0).map_err(map_err)?))
            .collect()
    }

    async fn add_cosignature(
        &self,
        size: u64,
        witness: &str,
        line: &str,
        created_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO log_cosignatures (size, witness, line, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (size, witness) DO NOTHING",
        )
        .bind(to_i64(size)?)
        .bind(witness)
        .bind(line)
        .bind(created_at)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn cosignatures(&self, size: u64) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT witness, line FROM log_cosignatures WHERE size = $1 ORDER BY witness",
        )
        .bind(to_i64(size)?)
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(map_err)?,
                    r.try_get(1).map_err(map_err)?,
                ))
            })
            .collect()
    }

    async fn cosigned_size(&self, witness: &str) -> Result<Option<u64>, StoreError> {
        let size: Option<i64> =
            sqlx::query("SELECT MAX(size) FROM log_cosignatures WHERE witness = $1")
                .bind(witness)
                .fetch_one(&self.reader)
                .await
                .map_err(map_err)?
                .try_get(0)
                .map_err(map_err)?;
        size.map(to_u64).transpose()
    }

    async fn crl_numbers(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT ca, MAX(number) FROM crls GROUP BY ca ORDER BY ca")
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(map_err)?,
                    r.try_get(1).map_err(map_err)?,
                ))
            })
            .collect()
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = sqlx::query("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?
            .try_get(0)
            .map_err(map_err)?;
        Ok(v.unwrap_or(0))
    }

    async fn snapshot_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::Unsupported(
                "a PostgreSQL database is backed up with pg_basebackup and WAL archiving, or pg_dump (docs/OPERATIONS.md)".into(),
            ));
        }
        let target = path.to_str().filter(|p| !p.contains('\'')).ok_or_else(|| {
            StoreError::Unsupported("the backup path must be plain text without quotes".into())
        })?;
        // On a reading connection: the copy is one read transaction, writers go on.
        sqlx::query(&format!("VACUUM INTO '{target}'"))
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn witnessed_size(
        &self,
        witnesses: &[String],
        quorum: usize,
    ) -> Result<Option<u64>, StoreError> {
        if witnesses.is_empty() {
            return Ok(None);
        }
        let params: Vec<String> = (2..witnesses.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT size FROM log_cosignatures WHERE witness IN ({}) GROUP BY size \
             HAVING COUNT(*) >= $1 ORDER BY size DESC LIMIT 1",
            params.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(i64::try_from(quorum).unwrap_or(i64::MAX));
        for w in witnesses {
            query = query.bind(w);
        }
        let row = query.fetch_optional(&self.reader).await.map_err(map_err)?;
        row.map(|r| to_u64(r.try_get(0).map_err(map_err)?))
            .transpose()
    }
}

fn checkpoint_from_row(r: &AnyRow) -> Result<CheckpointRecord, StoreError> {
    Ok(CheckpointRecord {
        size: to_u64(r.try_get("size").map_err(map_err)?)?,
        root: r.try_get("root").map_err(map_err)?,
        note: r.try_get("note").map_err(map_err)?,
        created_at: r.try_get("created_at").map_err(map_err)?,
    })
}
