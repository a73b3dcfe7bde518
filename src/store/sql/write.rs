//! Writing: each change of a write set as SQL, and the group-commit writer that applies write
//! sets in savepoints of one transaction with their log entries.

use sqlx::{Acquire, AnyPool, Row};
use tokio::sync::mpsc;

use super::rows::{EVENT_COLUMNS, LICENCE_COLUMNS, LICENCE_WIDTH};
use super::tokens;
use super::{map_err, to_u64, Change, StoreError, WriteJob, WriteSet, MAX_GROUP};

/// Applies one change of a write set inside the caller's transaction.
async fn apply_change(conn: &mut sqlx::AnyConnection, change: &Change) -> Result<(), StoreError> {
    match change {
        Change::InsertMeta { .. }
        | Change::SetMeta { .. }
        | Change::SetDepartmentCa { .. }
        | Change::SetCheckpointNote { .. }
        | Change::InsertDepartment { .. }
        | Change::InsertApiKey { .. }
        | Change::SetApiKeyHash { .. }
        | Change::RevokeApiKey { .. } => apply_admin_change(conn, change).await,
        Change::InsertKey { .. } | Change::ResealKey { .. } | Change::InsertCertificate { .. } => {
            apply_pki_change(conn, change).await
        }
        Change::RevokeCertificate { .. } | Change::InsertCrl { .. } => {
            apply_revocation_change(conn, change).await
        }
        Change::InsertTrustAnchor { .. }
        | Change::SetTrustAnchorDisabled { .. }
        | Change::DeleteTrustAnchor { .. } => apply_anchor_change(conn, change).await,
        Change::InsertSeal { .. }
        | Change::InsertSealEsl { .. }
        | Change::SetSealAppearance { .. }
        | Change::SetSealCertificate { .. }
        | Change::ApproveSealAppearance { .. } => apply_seal_change(conn, change).await,
        Change::InsertLicenceType { .. }
        | Change::InsertLicence { .. }
        | Change::SetLicenceStatus { .. } => apply_licence_change(conn, change).await,
    }
}

/// An update that must have changed exactly one row (`NotFound` otherwise).
fn one_row(done: &sqlx::any::AnyQueryResult) -> Result<(), StoreError> {
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// A change routed to the wrong writer: a bug, reported rather than ignored.
fn misrouted() -> StoreError {
    StoreError::Corrupt("a change was routed to the wrong writer".into())
}

/// Installation metadata, departments and API keys.
async fn apply_admin_change(
    conn: &mut sqlx::AnyConnection,
    change: &Change,
) -> Result<(), StoreError> {
    match change {
        Change::SetDepartmentCa { code, serial } => {
            let done = sqlx::query("UPDATE departments SET ca_serial = $1 WHERE code = $2")
                .bind(serial)
                .bind(code)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            one_row(&done)?;
        }
        Change::SetMeta { key, value } => {
            let done = sqlx::query("UPDATE meta SET value = $1 WHERE key = $2")
                .bind(value)
                .bind(key)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            one_row(&done)?;
        }
        Change::SetCheckpointNote { size, root, note } => {
            let size = i64::try_from(*size).map_err(|_| StoreError::NotFound)?;
            let done =
                sqlx::query("UPDATE log_checkpoints SET note = $1 WHERE size = $2 AND root = $3")
                    .bind(note)
                    .bind(size)
                    .bind(root)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
            one_row(&done)?;
        }
        Change::InsertMeta { key, value } => {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)")
                .bind(key)
                .bind(value)
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
            one_row(&done)?;
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
            one_row(&done)?;
        }
        _ => return Err(misrouted()),
    }
    Ok(())
}

/// Keys and certificates.
async fn apply_pki_change(
    conn: &mut sqlx::AnyConnection,
    change: &Change,
) -> Result<(), StoreError> {
    match change {
        Change::ResealKey { id, sealed } => {
            let done = sqlx::query("UPDATE keys SET sealed_private_key = $1 WHERE id = $2")
                .bind(sealed)
                .bind(id)
                .execute(conn)
                .await
                .map_err(map_err)?;
            one_row(&done)?;
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
                 not_before, not_after, revoked_at, revocation_reason, created_at, ca_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
            .bind(&c.ca_name)
            .execute(conn)
            .await
            .map_err(map_err)?;
        }
        _ => return Err(misrouted()),
    }
    Ok(())
}

/// Revocations and CRLs.
async fn apply_revocation_change(
    conn: &mut sqlx::AnyConnection,
    change: &Change,
) -> Result<(), StoreError> {
    match change {
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
        _ => return Err(misrouted()),
    }
    Ok(())
}

/// Trust anchors.
async fn apply_anchor_change(
    conn: &mut sqlx::AnyConnection,
    change: &Change,
) -> Result<(), StoreError> {
    match change {
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
        _ => return Err(misrouted()),
    }
    Ok(())
}

/// A seal's SM2 certificate and GB/T 38540 seal.
async fn insert_seal_esl(
    conn: &mut sqlx::AnyConnection,
    esl: &super::SealEslRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO seal_esls (seal_id, certificate_serial, esl, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&esl.seal_id)
    .bind(&esl.certificate_serial)
    .bind(&esl.esl)
    .bind(esl.created_at)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Seals and their appearance images.
async fn apply_seal_change(
    conn: &mut sqlx::AnyConnection,
    change: &Change,
) -> Result<(), StoreError> {
    match change {
        Change::InsertSealEsl(esl) => insert_seal_esl(conn, esl).await?,
        Change::SetSealCertificate { seal_id, serial } => {
            let done = sqlx::query("UPDATE seals SET certificate_serial = $1 WHERE id = $2")
                .bind(serial)
                .bind(seal_id)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            one_row(&done)?;
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
            one_row(&done)?;
            sqlx::query("DELETE FROM seal_appearance_uploads WHERE seal_id = $1")
                .bind(seal_id)
                .execute(conn)
                .await
                .map_err(map_err)?;
        }
        _ => return Err(misrouted()),
    }
    Ok(())
}

/// Licence types, licences and their status.
async fn apply_licence_change(
    conn: &mut sqlx::AnyConnection,
    change: &Change,
) -> Result<(), StoreError> {
    match change {
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
        Change::InsertLicence(l) => insert_licences(conn, &[l.as_ref()]).await?,
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
            one_row(&done)?;
        }
        _ => return Err(misrouted()),
    }
    Ok(())
}

/// The group-commit writer: takes every write set waiting (up to [`MAX_GROUP`]), applies them
/// in one transaction (when one fails, the group again with each set in its own savepoint, so
/// that a failing set is rolled back alone and gets its error), commits once and only then
/// answers each caller. One fsync acknowledges many writes,
/// and on PostgreSQL the log's counter row is locked once per group rather than once per write.
/// While groups keep coming it keeps its connection (taking it from the pool again for every
/// group was a fifth of a group's time on a busy machine), for at most [`HOLD`], so that the
/// pool's other users (the log's integrator) get their turn.
pub(super) async fn group_commit(pool: AnyPool, mut queue: mpsc::Receiver<WriteJob>) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_GROUP);
    let mut held: Option<(sqlx::pool::PoolConnection<sqlx::Any>, std::time::Instant)> = None;
    while queue.recv_many(&mut batch, MAX_GROUP).await > 0 {
        let jobs: Vec<WriteJob> = std::mem::take(&mut batch);
        // Past its time the connection goes back to the pool before it is asked for again.
        let kept = held.take().filter(|(_, since)| since.elapsed() < HOLD);
        let conn = match kept {
            Some(kept) => Ok(kept),
            None => pool
                .acquire()
                .await
                .map(|conn| (conn, std::time::Instant::now())),
        };
        let outcome = match conn {
            Ok((mut conn, since)) => {
                let outcome = commit_group(&mut conn, &jobs).await;
                // Kept only while more is waiting and the connection is sound.
                if outcome.is_ok() && !queue.is_empty() {
                    held = Some((conn, since));
                }
                outcome
            }
            Err(e) => Err(map_err(e)),
        };
        match outcome {
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

/// Longest time the group-commit writer keeps the writer connection.
const HOLD: std::time::Duration = std::time::Duration::from_millis(100);

async fn commit_group(
    conn: &mut sqlx::AnyConnection,
    jobs: &[WriteJob],
) -> Result<Vec<Result<Vec<u64>, StoreError>>, StoreError> {
    // The common case first: every write set applies. Then the group needs no savepoints, and
    // its log indices are taken with one update and its entries stored in a few multi-row
    // inserts (each statement is a round trip to the database's worker: per write set this
    // goes from five statements to about one). Should any set fail, the whole transaction is
    // rolled back and the group applied again, each set in its own savepoint.
    if conn.backend_name() == "SQLite" && only_new_licences(jobs) {
        match group_in_one_round_trip(conn, jobs).await {
            Ok(Ok(indices)) => return Ok(indices.into_iter().map(Ok).collect()),
            // Committed, but its log indices could not be read back: not applied again.
            Ok(Err(e)) => return Err(e),
            Err(e) => {
                // Nothing of it stays (a failing statement leaves the transaction open: it is
                // rolled back here); each set is applied again in its own savepoint below.
                tracing::debug!(error = %e, "group failed; applying its sets one by one");
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            }
        }
    } else {
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(map_err)?;
        match apply_group(&mut tx, jobs).await {
            Ok(indices) => {
                tx.commit().await.map_err(map_err)?;
                return Ok(indices.into_iter().map(Ok).collect());
            }
            Err(e) => {
                tx.rollback().await.map_err(map_err)?;
                // A set alone: its error is its answer.
                if jobs.len() == 1 {
                    return Ok(vec![Err(e)]);
                }
            }
        }
    }
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(map_err)?;
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

/// Rows per multi-row insert of log entries (7 parameters each, far below SQLite's limit).
const EVENTS_PER_INSERT: usize = 100;
/// Rows per multi-row insert of licences ([`LICENCE_WIDTH`] parameters each).
const LICENCES_PER_INSERT: usize = 40;

/// `INSERT INTO table (columns) VALUES (...), (...)` with `rows` rows of `width` parameters.
/// On SQLite the parameters are anonymous `?`: sqlx looks up the name of every numbered
/// parameter, and SQLite finds a name by a linear scan, so with `$N` binding a statement of
/// 800 parameters took time growing with their square (a tenth of the writer's time).
fn multi_row_insert(
    conn: &sqlx::AnyConnection,
    table: &str,
    columns: &str,
    rows: usize,
    width: usize,
) -> String {
    let anonymous = conn.backend_name() == "SQLite";
    let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            if anonymous {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", r * width + c + 1));
            }
        }
        sql.push(')');
    }
    sql
}

/// Binds an event's columns after its index (`EVENT_COLUMNS` but the first).
fn bind_event<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    event: &'q crate::store::NewEvent,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(&event.entry)
        .bind(event.leaf_hash.as_slice())
        .bind(&event.event_type)
        .bind(&event.department_code)
        .bind(&event.subject)
        .bind(event.created_at)
}

/// Binds the [`LICENCE_WIDTH`] columns of each licence, in [`LICENCE_COLUMNS`] order: its
/// tokens without their headers, and the headers' digests (`tokens`).
fn bind_licences<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    licences: &[&'q crate::store::LicenceRecord],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for l in licences {
        let token = tokens::split(&l.token);
        let sd_jwt = l.sd_jwt.as_deref().map(tokens::split);
        query = query
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
            .bind(token.rest)
            .bind(l.created_at)
            .bind(sd_jwt.as_ref().map(|t| t.rest))
            .bind(token.digest())
            .bind(sd_jwt.as_ref().and_then(|t| t.digest()));
    }
    query
}

/// The distinct headers of some licences' tokens (see `tokens`).
fn token_headers<'a>(licences: &[&'a crate::store::LicenceRecord]) -> Vec<(&'a str, [u8; 32])> {
    tokens::distinct_headers(
        licences
            .iter()
            .flat_map(|l| std::iter::once(l.token.as_str()).chain(l.sd_jwt.as_deref())),
    )
}

/// Stores a token header unless it is stored already.
const INSERT_TOKEN_HEADER: &str =
    "INSERT INTO token_headers (sha256, header) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING";
/// The same with anonymous parameters, for a query of several statements on SQLite (a numbered
/// parameter counts from the query's first argument, not the statement's).
const INSERT_TOKEN_HEADER_ANONYMOUS: &str =
    "INSERT INTO token_headers (sha256, header) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING";

/// Stores new licences with one statement (and their tokens' headers not yet stored).
async fn insert_licences(
    conn: &mut sqlx::AnyConnection,
    licences: &[&crate::store::LicenceRecord],
) -> Result<(), StoreError> {
    for (header, digest) in token_headers(licences) {
        sqlx::query(INSERT_TOKEN_HEADER)
            .bind(digest.as_slice())
            .bind(header)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    let sql = multi_row_insert(
        conn,
        "licences",
        LICENCE_COLUMNS,
        licences.len(),
        LICENCE_WIDTH,
    );
    let query = bind_licences(sqlx::query(&sql), licences);
    query.execute(&mut *conn).await.map_err(map_err)?;
    Ok(())
}

/// Whether a group holds nothing but new licences and log entries (the bulk of a busy
/// service), which [`group_in_one_round_trip`] stores.
fn only_new_licences(jobs: &[WriteJob]) -> bool {
    jobs.iter().all(|j| {
        j.writes
            .changes
            .iter()
            .all(|c| matches!(c, Change::InsertLicence(_)))
    })
}

/// SQLite only: the whole group — begin, its licences, its log entries (indices counted on from
/// the log's size), the new size, commit — as one query of several statements, so one round
/// trip to the connection's worker thread rather than one per statement (on a busy machine
/// each cost about a millisecond of waiting for that thread to run). The outer error means
/// nothing was committed (the caller rolls back and applies the sets one by one); the inner
/// one that the group was committed but its indices could not be read back.
async fn group_in_one_round_trip(
    conn: &mut sqlx::AnyConnection,
    jobs: &[WriteJob],
) -> Result<Result<Vec<Vec<u64>>, StoreError>, StoreError> {
    let licences: Vec<&crate::store::LicenceRecord> = jobs
        .iter()
        .flat_map(|j| j.writes.changes.iter())
        .filter_map(|c| match c {
            Change::InsertLicence(l) => Some(l.as_ref()),
            _ => None,
        })
        .collect();
    let events: Vec<&crate::store::NewEvent> =
        jobs.iter().flat_map(|j| j.writes.events.iter()).collect();
    let total =
        i64::try_from(events.len()).map_err(|_| StoreError::Corrupt("group size".into()))?;
    let headers = token_headers(&licences);
    let mut sql = String::from("BEGIN IMMEDIATE; ");
    for _ in &headers {
        sql.push_str(INSERT_TOKEN_HEADER_ANONYMOUS);
        sql.push_str("; ");
    }
    for chunk in licences.chunks(LICENCES_PER_INSERT) {
        sql.push_str(&multi_row_insert(
            conn,
            "licences",
            LICENCE_COLUMNS,
            chunk.len(),
            LICENCE_WIDTH,
        ));
        sql.push_str("; ");
    }
    for (c, chunk) in events.chunks(EVENTS_PER_INSERT).enumerate() {
        sql.push_str(&format!("INSERT INTO events ({EVENT_COLUMNS}) VALUES "));
        for r in 0..chunk.len() {
            let k = c * EVENTS_PER_INSERT + r;
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "((SELECT size FROM log_state WHERE id = 1) + {k}, ?, ?, ?, ?, ?, ?)"
            ));
        }
        sql.push_str("; ");
    }
    sql.push_str("UPDATE log_state SET size = size + ? WHERE id = 1 RETURNING size; COMMIT;");
    let mut query = sqlx::query(&sql);
    for (header, digest) in &headers {
        query = query.bind(digest.as_slice()).bind(*header);
    }
    for chunk in licences.chunks(LICENCES_PER_INSERT) {
        query = bind_licences(query, chunk);
    }
    for event in &events {
        query = bind_event(query, event);
    }
    let rows = query
        .bind(total)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    // Committed: from here on an error must not make the caller apply the group again.
    Ok(group_indices(jobs, &rows, total))
}

/// Each set's log indices in a group whose new log size the last row holds.
fn group_indices(
    jobs: &[WriteJob],
    rows: &[sqlx::any::AnyRow],
    total: i64,
) -> Result<Vec<Vec<u64>>, StoreError> {
    let end: i64 = rows
        .last()
        .ok_or_else(|| StoreError::Corrupt("no log size returned".into()))?
        .try_get(0)
        .map_err(map_err)?;
    let mut next = end - total;
    let mut indices = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut own = Vec::with_capacity(job.writes.events.len());
        for _ in &job.writes.events {
            own.push(to_u64(next)?);
            next += 1;
        }
        indices.push(own);
    }
    Ok(indices)
}

/// Applies every write set's changes, then appends all their events: one update takes the
/// group's indices (dense, in the order of the sets, as one by one), multi-row inserts store
/// the entries. Any error fails the group (the caller rolls it back).
async fn apply_group(
    conn: &mut sqlx::AnyConnection,
    jobs: &[WriteJob],
) -> Result<Vec<Vec<u64>>, StoreError> {
    // New licences (the bulk of a busy group) go in multi-row inserts after the other changes:
    // nothing in a group can refer to a licence another set of the same group creates (its
    // identifier is only known once that set is acknowledged).
    let mut licences = Vec::new();
    for job in jobs {
        for change in &job.writes.changes {
            match change {
                Change::InsertLicence(l) => licences.push(l.as_ref()),
                other => apply_change(conn, other).await?,
            }
        }
    }
    for chunk in licences.chunks(LICENCES_PER_INSERT) {
        insert_licences(conn, chunk).await?;
    }
    let total: usize = jobs.iter().map(|j| j.writes.events.len()).sum();
    if total == 0 {
        return Ok(vec![Vec::new(); jobs.len()]);
    }
    let total_i64 = i64::try_from(total).map_err(|_| StoreError::Corrupt("group size".into()))?;
    let end: i64 = sqlx::query("UPDATE log_state SET size = size + $1 WHERE id = 1 RETURNING size")
        .bind(total_i64)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?
        .try_get(0)
        .map_err(map_err)?;
    let mut next = end - total_i64;
    let mut indices = Vec::with_capacity(jobs.len());
    let mut rows = Vec::with_capacity(total);
    for job in jobs {
        let mut own = Vec::with_capacity(job.writes.events.len());
        for event in &job.writes.events {
            own.push(to_u64(next)?);
            rows.push((next, event));
            next += 1;
        }
        indices.push(own);
    }
    for chunk in rows.chunks(EVENTS_PER_INSERT) {
        let sql = multi_row_insert(conn, "events", EVENT_COLUMNS, chunk.len(), 7);
        let mut query = sqlx::query(&sql);
        for (index, event) in chunk {
            query = bind_event(query.bind(*index), event);
        }
        query.execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(indices)
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
        let sql =
            format!("INSERT INTO events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        let query = sqlx::query(&sql);
        bind_event(query.bind(index), event)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        indices.push(to_u64(index)?);
    }
    Ok(indices)
}
