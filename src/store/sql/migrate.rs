//! The embedded migrations, run at start under PostgreSQL's advisory lock.

use sqlx::Executor;

use super::{map_err, Backend, SqlStore, StoreError};

/// Embedded migrations: (version, SQLite text, PostgreSQL text).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        include_str!("../../../migrations/sqlite/0001_foundation.sql"),
        include_str!("../../../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/sqlite/0002_licences.sql"),
        include_str!("../../../migrations/postgres/0002_licences.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/sqlite/0003_seals.sql"),
        include_str!("../../../migrations/postgres/0003_seals.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/sqlite/0004_seal_appearances.sql"),
        include_str!("../../../migrations/postgres/0004_seal_appearances.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/sqlite/0005_revocation.sql"),
        include_str!("../../../migrations/postgres/0005_revocation.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/sqlite/0006_trust_anchors.sql"),
        include_str!("../../../migrations/postgres/0006_trust_anchors.sql"),
    ),
    (
        7,
        include_str!("../../../migrations/sqlite/0007_trust_anchor_policy.sql"),
        include_str!("../../../migrations/postgres/0007_trust_anchor_policy.sql"),
    ),
    (
        8,
        include_str!("../../../migrations/sqlite/0008_privacy.sql"),
        include_str!("../../../migrations/postgres/0008_privacy.sql"),
    ),
    (
        9,
        include_str!("../../../migrations/sqlite/0009_national_crypto.sql"),
        include_str!("../../../migrations/postgres/0009_national_crypto.sql"),
    ),
    (
        10,
        include_str!("../../../migrations/sqlite/0010_witnesses.sql"),
        include_str!("../../../migrations/postgres/0010_witnesses.sql"),
    ),
    (
        11,
        include_str!("../../../migrations/sqlite/0011_ca_generations.sql"),
        include_str!("../../../migrations/postgres/0011_ca_generations.sql"),
    ),
    (
        12,
        include_str!("../../../migrations/sqlite/0012_token_headers.sql"),
        include_str!("../../../migrations/postgres/0012_token_headers.sql"),
    ),
];

/// Arbitrary constant naming trustd's migration lock in `pg_advisory_xact_lock`.
const PG_MIGRATION_LOCK: i64 = 0x7472_7573_7464_0001;

impl SqlStore {
    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
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
}
