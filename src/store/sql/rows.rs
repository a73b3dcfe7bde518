//! Rows to records: each table's columns read back into its record type, enums parsed.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::tokens;
use super::{
    map_err, to_u64, ApiKeyRecord, CertKind, CertificateRecord, CrlRecord, DepartmentRecord,
    EventRecord, LicenceRecord, LicenceState, LicenceTypeRecord, Role, SealEslRecord, SealRecord,
    StoreError, StoredKey, TrustAnchorRecord,
};

pub(super) const LICENCE_COLUMNS: &str = "identifier, type_code, number, holder_name, holder_code_type, holder_code, \
     holder_hash, issuer_code, issue_date, valid_from, valid_until, area_code, face, status, status_reason, \
     status_at, previous_identifier, signer_serial, token, created_at, sd_jwt, token_header, sd_jwt_header";

/// Columns in [`LICENCE_COLUMNS`].
pub(super) const LICENCE_WIDTH: usize = 23;

/// A licence row with the text of its tokens' headers (`tokens`): the select list and tables
/// of every read of licences, which adds its `WHERE`.
pub(super) const LICENCE_SELECT: &str =
    "SELECT l.identifier, l.type_code, l.number, l.holder_name, \
     l.holder_code_type, l.holder_code, l.holder_hash, l.issuer_code, l.issue_date, l.valid_from, \
     l.valid_until, l.area_code, l.face, l.status, l.status_reason, l.status_at, \
     l.previous_identifier, l.signer_serial, l.token, l.created_at, l.sd_jwt, l.token_header, \
     l.sd_jwt_header, th.header AS token_head, sh.header AS sd_jwt_head \
     FROM licences l LEFT JOIN token_headers th ON th.sha256 = l.token_header \
     LEFT JOIN token_headers sh ON sh.sha256 = l.sd_jwt_header";

pub(super) fn seal_from_row(row: &AnyRow) -> Result<SealRecord, sqlx::Error> {
    Ok(SealRecord {
        id: row.try_get("id")?,
        department_code: row.try_get("department_code")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        certificate_serial: row.try_get("certificate_serial")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(super) fn seal_esl_from_row(row: &AnyRow) -> Result<SealEslRecord, sqlx::Error> {
    Ok(SealEslRecord {
        seal_id: row.try_get("seal_id")?,
        certificate_serial: row.try_get("certificate_serial")?,
        esl: row.try_get("esl")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(super) fn licence_type_from_row(row: &AnyRow) -> Result<LicenceTypeRecord, sqlx::Error> {
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

pub(super) fn licence_from_row(row: &AnyRow) -> Result<LicenceRecord, sqlx::Error> {
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
        token: tokens::join(
            row.try_get("token_header")?,
            row.try_get("token_head")?,
            row.try_get("token")?,
        )?,
        created_at: row.try_get("created_at")?,
        sd_jwt: match row.try_get::<Option<String>, _>("sd_jwt")? {
            Some(rest) => Some(tokens::join(
                row.try_get("sd_jwt_header")?,
                row.try_get("sd_jwt_head")?,
                rest,
            )?),
            None => None,
        },
    })
}

pub(super) fn key_from_row(row: &AnyRow) -> Result<StoredKey, sqlx::Error> {
    Ok(StoredKey {
        id: row.try_get("id")?,
        algorithm: row.try_get("algorithm")?,
        public_key: row.try_get("public_key")?,
        sealed_private_key: row.try_get("sealed_private_key")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(super) fn certificate_from_row(row: &AnyRow) -> Result<CertificateRecord, sqlx::Error> {
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
        ca_name: row.try_get("ca_name")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(super) fn department_from_row(row: &AnyRow) -> Result<DepartmentRecord, sqlx::Error> {
    Ok(DepartmentRecord {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        ca_serial: row.try_get("ca_serial")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(super) fn api_key_from_row(row: &AnyRow) -> Result<ApiKeyRecord, sqlx::Error> {
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

pub(super) fn event_from_row(row: &AnyRow) -> Result<EventRecord, StoreError> {
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

pub(super) const EVENT_COLUMNS: &str =
    "idx, entry, leaf_hash, event_type, department_code, subject, created_at";

pub(super) fn trust_anchor_from_row(r: &AnyRow) -> Result<TrustAnchorRecord, sqlx::Error> {
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
}

pub(super) fn crl_from_row(r: &AnyRow) -> Result<CrlRecord, sqlx::Error> {
    Ok(CrlRecord {
        ca: r.try_get("ca")?,
        number: r.try_get("number")?,
        der: r.try_get("der")?,
        this_update: r.try_get("this_update")?,
        next_update: r.try_get("next_update")?,
        revoked_count: r.try_get("revoked_count")?,
    })
}
