//! The witness's own SQLite database: its identity (name, public key, sealed private key), the
//! latest checkpoint it cosigned per log, and kept evidence. Separate from trustd's database
//! on purpose: a witness is run by someone else, on another machine.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::log::merkle::{empty_root, Hash};

/// Evidence rows kept per log: enough to prove a fork, bounded against a log that floods.
const MAX_EVIDENCE_PER_LOG: i64 = 1000;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS witness_identity (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        name        TEXT NOT NULL,
        public_key  BLOB NOT NULL,
        sealed_key  BLOB NOT NULL,
        created_at  INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS witness_logs (
        origin      TEXT PRIMARY KEY,
        size        INTEGER NOT NULL,
        root        BLOB NOT NULL,
        cosigned_at INTEGER NOT NULL,
        -- The checkpoint as received, with this witness's cosignature appended.
        cosigned    TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS witness_evidence (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        origin      TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        reason      TEXT NOT NULL,
        request     BLOB NOT NULL
    )",
];

/// What the witness knows of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogState {
    pub size: u64,
    pub root: Hash,
    /// POSIX time of the last cosignature (0: never).
    pub cosigned_at: u64,
    /// Whether a row exists.
    pub known: bool,
}

pub struct WitnessStore {
    pool: SqlitePool,
}

impl WitnessStore {
    pub async fn open(path: &Path) -> Result<WitnessStore, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every cosignature's state reaches the disk before the cosignature leaves.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await?;
        }
        Ok(WitnessStore { pool })
    }

    pub async fn identity(&self) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
        let row = sqlx::query("SELECT name, sealed_key FROM witness_identity WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    pub async fn create_identity(
        &self,
        name: &str,
        public_key: &[u8],
        sealed_key: &[u8],
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO witness_identity (id, name, public_key, sealed_key, created_at) \
             VALUES (1, ?, ?, ?, ?)",
        )
        .bind(name)
        .bind(public_key)
        .bind(sealed_key)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn state(&self, origin: &str) -> Result<LogState, sqlx::Error> {
        let row = sqlx::query("SELECT size, root, cosigned_at FROM witness_logs WHERE origin = ?")
            .bind(origin)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(LogState {
                size: 0,
                root: empty_root(),
                cosigned_at: 0,
                known: false,
            });
        };
        let root: Vec<u8> = row.try_get(1)?;
        Ok(LogState {
            size: row.try_get::<i64, _>(0)? as u64,
            root: root
                .try_into()
                .map_err(|_| sqlx::Error::Decode("stored root is not 32 bytes".into()))?,
            cosigned_at: row.try_get::<i64, _>(2)? as u64,
            known: true,
        })
    }

    /// Moves the log's state from `from` to the new checkpoint; fails unless the row is still
    /// `from` (the caller holds the lock, this is a second guard).
    pub async fn advance(
        &self,
        origin: &str,
        from: &LogState,
        checkpoint: (u64, &Hash),
        cosigned: &str,
        now: u64,
    ) -> Result<(), sqlx::Error> {
        let (size, root) = checkpoint;
        let size = i64::try_from(size).map_err(|_| sqlx::Error::Decode("size".into()))?;
        let now = i64::try_from(now).map_err(|_| sqlx::Error::Decode("time".into()))?;
        let done = if from.known {
            sqlx::query(
                "UPDATE witness_logs SET size = ?, root = ?, cosigned_at = ?, cosigned = ? \
                 WHERE origin = ? AND size = ? AND root = ?",
            )
            .bind(size)
            .bind(root.as_slice())
            .bind(now)
            .bind(cosigned)
            .bind(origin)
            .bind(from.size as i64)
            .bind(from.root.as_slice())
            .execute(&self.pool)
            .await?
        } else {
            sqlx::query(
                "INSERT INTO witness_logs (origin, size, root, cosigned_at, cosigned) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(origin)
            .bind(size)
            .bind(root.as_slice())
            .bind(now)
            .bind(cosigned)
            .execute(&self.pool)
            .await?
        };
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(sqlx::Error::RowNotFound)
        }
    }

    /// The latest checkpoint cosigned for the log whose origin hashes (SHA-256, hex) to
    /// `origin_hash`, with the cosignature.
    pub async fn cosigned_checkpoint(
        &self,
        origin_hash: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let rows = sqlx::query("SELECT origin, cosigned FROM witness_logs")
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let origin: String = row.try_get(0)?;
            let digest = ring::digest::digest(&ring::digest::SHA256, origin.as_bytes());
            if hex::encode(digest) == origin_hash {
                return Ok(Some(row.try_get(1)?));
            }
        }
        Ok(None)
    }

    pub async fn keep_evidence(
        &self,
        origin: &str,
        now: u64,
        reason: &str,
        request: &[u8],
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO witness_evidence (origin, received_at, reason, request) \
             SELECT ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM witness_evidence WHERE origin = ?) < ?",
        )
        .bind(origin)
        .bind(now as i64)
        .bind(reason)
        .bind(request)
        .bind(origin)
        .bind(MAX_EVIDENCE_PER_LOG)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
