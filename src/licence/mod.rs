//! Electronic licences (电子证照, ARCHITECTURE.md §7): the catalogue of types, issuance with a signed
//! token, status changes, reading and cross-department sharing (with a logged purpose), the
//! public status and verification.

pub mod identifier;
pub mod qr;
pub mod sd_jwt;
pub mod token;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::{Date, OffsetDateTime, UtcOffset};

use crate::auth::{Caller, Role};
use crate::codes::{CitizenId, CreditCode};
use crate::context::Context;
use crate::error::ServiceError;
use crate::log::entry::canonical_json;
use crate::log::{Event, EventType};
pub use crate::pii::PiiHasher;
use crate::pki::chain::verify_chain;
use crate::pki::signers::CachedSigner;
use crate::store::{CertKind, LicenceState};
use crate::store::{
    Change, DepartmentRecord, LicenceRecord, LicenceTypeRecord, LicenceView, StoreError, WriteSet,
};
use identifier::LicenceIdentifier;

/// China Standard Time (UTC+8, no daylight saving): licence dates are local dates.
pub const CST: UtcOffset = time::macros::offset!(+8);

/// The local date at `now`.
pub fn today(now: OffsetDateTime) -> Date {
    now.to_offset(CST).date()
}

const DATE_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn parse_date(field: &str, value: &str) -> Result<Date, ServiceError> {
    Date::parse(value, DATE_FORMAT)
        .map_err(|_| ServiceError::invalid(field, "must be a date YYYY-MM-DD"))
}

fn format_date(d: Date) -> String {
    d.format(DATE_FORMAT).unwrap_or_default()
}

/// Unix time of a local date's midnight (CST).
fn midnight(d: Date) -> i64 {
    d.midnight().assume_offset(CST).unix_timestamp()
}

fn check_text(field: &str, value: &str, max: usize) -> Result<String, ServiceError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(ServiceError::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

// ---------------------------------------------------------------- catalogue

/// A face field (照面信息) of a licence type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub key: String,
    pub label: String,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderKind {
    Person,
    Organisation,
}

impl HolderKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "person" => Some(HolderKind::Person),
            "organisation" => Some(HolderKind::Organisation),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewLicenceType {
    pub name: String,
    pub fields: Vec<FieldSpec>,
    pub holder_kind: String,
    pub validity_days: Option<i64>,
    pub token_omits_holder_code: bool,
}

/// The field list of a stored type.
pub fn type_fields(t: &LicenceTypeRecord) -> Vec<FieldSpec> {
    serde_json::from_str(&t.fields).unwrap_or_default()
}

/// A type's field list: 1 to 100 fields, keys of lower-case letters, digits and `_` (starting
/// with a letter), each once, labels of 1 to 100 characters.
fn check_fields(fields: &[FieldSpec]) -> Result<(), ServiceError> {
    if fields.is_empty() || fields.len() > 100 {
        return Err(ServiceError::invalid("fields", "must list 1 to 100 fields"));
    }
    let mut keys = std::collections::HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        let valid_key = f.key.len() <= 64
            && f.key.starts_with(|c: char| c.is_ascii_lowercase())
            && f.key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_key {
            return Err(ServiceError::invalid(
                format!("fields[{i}].key"),
                "must be lower-case letters, digits and _, starting with a letter, at most 64",
            ));
        }
        if !keys.insert(f.key.as_str()) {
            return Err(ServiceError::invalid(
                format!("fields[{i}].key"),
                "is listed twice",
            ));
        }
        check_text(&format!("fields[{i}].label"), &f.label, 100)?;
    }
    Ok(())
}

/// Registers a licence type in the caller's department (operator).
pub async fn register_type(
    ctx: &Context,
    caller: &Caller,
    input: NewLicenceType,
) -> Result<(LicenceTypeRecord, u64), ServiceError> {
    let name = check_text("name", &input.name, 100)?;
    check_fields(&input.fields)?;
    if HolderKind::parse(&input.holder_kind).is_none() {
        return Err(ServiceError::invalid(
            "holder_kind",
            "must be person or organisation",
        ));
    }
    if let Some(days) = input.validity_days {
        if !(1..=36_500).contains(&days) {
            return Err(ServiceError::invalid(
                "validity_days",
                "must be between 1 and 36500",
            ));
        }
    }
    caller.require(&[Role::Operator])?;
    let department = caller.require_operator()?.to_owned();
    let fields = serde_json::to_string(&input.fields)
        .map_err(|_| ServiceError::invalid("fields", "cannot be encoded"))?;
    // The sequence is per department; concurrent registrations retry on the unique constraint.
    for _ in 0..8 {
        let seq = ctx.store.max_licence_type_seq(&department).await? + 1;
        if seq > 999 {
            return Err(ServiceError::Conflict(
                "the department's catalogue is full (999 types)".into(),
            ));
        }
        let now = ctx.clock.now();
        let record = LicenceTypeRecord {
            type_code: format!("{department}{seq:03}"),
            department_code: department.clone(),
            seq,
            name: name.clone(),
            fields: fields.clone(),
            holder_kind: input.holder_kind.clone(),
            validity_days: input.validity_days,
            token_omits_holder_code: input.token_omits_holder_code,
            created_at: now.unix_timestamp(),
        };
        let event = Event::new(
            EventType::LicenceTypeRegistered,
            now,
            record.type_code.as_str(),
        )
        .department(department.as_str())
        .actor(Some(caller.key_id()))
        .data("name", &name)
        .data(
            "fields",
            input
                .fields
                .iter()
                .map(|f| f.key.as_str())
                .collect::<Vec<_>>(),
        );
        let writes = WriteSet::new()
            .change(Change::InsertLicenceType(record.clone()))
            .event(event.to_new_event());
        match ctx.store.apply(writes).await {
            Ok(indices) => return Ok((record, indices.first().copied().unwrap_or_default())),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::Conflict(
        "too many concurrent registrations; try again".into(),
    ))
}

/// The whole catalogue (any authenticated caller).
pub async fn list_types(
    ctx: &Context,
    caller: &Caller,
) -> Result<Vec<LicenceTypeRecord>, ServiceError> {
    caller.require(&[Role::Operator, Role::Auditor, Role::Admin])?;
    Ok(ctx.store.licence_types().await?)
}

// ---------------------------------------------------------------- status

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Valid,
    Suspended,
    Revoked,
    Expired,
    NotFound,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Suspended => "suspended",
            Status::Revoked => "revoked",
            Status::Expired => "expired",
            Status::NotFound => "not_found",
        }
    }
}

/// The status a licence has today: revoked and suspended as stored, else expired after
/// `valid_until` (or before `valid_from`: not yet valid counts as not valid, reported expired
/// only after the end), else valid.
pub fn effective_status(record: &LicenceRecord, today: Date) -> Status {
    status_of(record.status, record.valid_until.as_deref(), today)
}

/// The status a licence shows: its stored state, or expired after its end date.
fn status_of(state: LicenceState, valid_until: Option<&str>, today: Date) -> Status {
    match state {
        LicenceState::Revoked => Status::Revoked,
        LicenceState::Suspended => Status::Suspended,
        LicenceState::Valid => match valid_until.and_then(|d| Date::parse(d, DATE_FORMAT).ok()) {
            Some(until) if today > until => Status::Expired,
            _ => Status::Valid,
        },
    }
}

// ---------------------------------------------------------------- signers

const SIGNER_TTL: Duration = Duration::from_secs(30);
/// A signer certificate is replaced when less than this remains of its validity.
const SIGNER_RENEW_BEFORE: i64 = 30 * 86_400;

/// The department's licence-signing key, issued when first needed and cached for a short time
/// (`ctx.licence_signers`), looked up only under a CA that is not revoked. The instance that
/// revokes the CA drops the cached signer at once, every other instance within a second (the
/// certificate's revocation in the log, `startup::watch_views`); a lookup that raced with
/// either is not kept.
async fn signer_for(ctx: &Context, department: &str) -> Result<Arc<CachedSigner>, ServiceError> {
    if let Some(s) = ctx.licence_signers.fresh(department, SIGNER_TTL) {
        return Ok(s);
    }
    let generation = ctx.licence_signers.generation();
    let now = ctx.clock.now();
    let ca = ctx.pki.department_ca(department).await?;
    // Near the CA's end a new signer cannot outlive it: one that lasts as long as the CA is
    // kept, not re-issued for every licence.
    let usable = |c: &crate::store::CertificateRecord| {
        c.revoked_at.is_none()
            && crate::pki::chain::issued_by(&c.der, &ca.der)
            && c.not_after > now.unix_timestamp()
            && (c.not_after - now.unix_timestamp() > SIGNER_RENEW_BEFORE
                || c.not_after >= ca.not_after)
    };
    let current = || async {
        Ok::<_, ServiceError>(
            ctx.store
                .certificates_of_kind(CertKind::LicenceSigner, Some(department))
                .await?
                .into_iter()
                .rfind(usable),
        )
    };
    let cert = match current().await? {
        Some(cert) => cert,
        None => {
            let _guard = ctx.licence_signers.creating().await;
            match current().await? {
                Some(cert) => cert,
                None => issue_signer(ctx, department, now).await?,
            }
        }
    };
    let signer = ctx.pki.signer(&cert.key_id).await?;
    let chain = vec![cert.der, ca.der];
    let refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    let mut token_headers = Vec::new();
    for typ in [token::TOKEN_TYPE, sd_jwt::SD_TOKEN_TYPE] {
        token_headers.push((typ, token::encoded_header(typ, signer.key_id(), &refs)?));
    }
    let cached = Arc::new(CachedSigner {
        signer,
        serial: cert.serial.clone(),
        ca_serial: ca.serial.clone(),
        chain,
        token_headers,
        fetched: Instant::now(),
    });
    ctx.licence_signers
        .insert(department, cached.clone(), generation);
    Ok(cached)
}

/// Issues the department a new licence-signing certificate (3 years), stored and logged.
async fn issue_signer(
    ctx: &Context,
    department: &str,
    now: OffsetDateTime,
) -> Result<crate::store::CertificateRecord, ServiceError> {
    let dept = ctx
        .department(department)
        .await?
        .ok_or(ServiceError::NotFound("department"))?;
    let issued = ctx
        .pki
        .issue_department_leaf(
            department,
            CertKind::LicenceSigner,
            &format!("{} 电子证照签发", dept.name),
            vec![
                rcgen::KeyUsagePurpose::DigitalSignature,
                rcgen::KeyUsagePurpose::ContentCommitment,
            ],
            3 * 365,
            now,
        )
        .await?;
    let (writes, certificate) = issued.into_writes(now, None, None);
    ctx.store.apply(writes).await?;
    Ok(certificate)
}

// ---------------------------------------------------------------- issuance

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holder {
    pub name: String,
    pub code_type: String,
    pub code: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLicence {
    pub type_code: String,
    pub number: Option<String>,
    pub holder: Holder,
    #[serde(default)]
    pub face: Map<String, Value>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub area_code: Option<String>,
    pub previous_identifier: Option<String>,
}

fn check_holder(
    holder: &Holder,
    kind: HolderKind,
) -> Result<(String, String, String), ServiceError> {
    let name = check_text("holder.name", &holder.name, 100)?;
    let code_type = holder.code_type.trim();
    if code_type.len() != 3 || !code_type.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ServiceError::invalid(
            "holder.code_type",
            "must be a 3-digit code type (111 citizen ID, 001 credit code, …)",
        ));
    }
    let code = holder.code.trim();
    match code_type {
        "111" => {
            if kind != HolderKind::Person {
                return Err(ServiceError::invalid(
                    "holder.code_type",
                    "a citizen ID is for licences of persons",
                ));
            }
            CitizenId::parse(code)
                .map_err(|e| ServiceError::invalid("holder.code", e.to_string()))?;
        }
        "001" => {
            if kind != HolderKind::Organisation {
                return Err(ServiceError::invalid(
                    "holder.code_type",
                    "a credit code is for licences of organisations",
                ));
            }
            CreditCode::parse(code)
                .map_err(|e| ServiceError::invalid("holder.code", e.to_string()))?;
        }
        _ => {
            if code.is_empty()
                || code.len() > 64
                || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(ServiceError::invalid(
                    "holder.code",
                    "must be 1 to 64 letters, digits or -",
                ));
            }
        }
    }
    Ok((name, code_type.to_owned(), code.to_owned()))
}

fn check_face(face: &Map<String, Value>, fields: &[FieldSpec]) -> Result<String, ServiceError> {
    for key in face.keys() {
        if !fields.iter().any(|f| &f.key == key) {
            return Err(ServiceError::invalid(
                format!("face.{key}"),
                "is not a field of this licence type",
            ));
        }
    }
    for f in fields {
        match face.get(&f.key) {
            None | Some(Value::Null) if f.required => {
                return Err(ServiceError::invalid(
                    format!("face.{}", f.key),
                    format!("is required ({})", f.label),
                ));
            }
            Some(Value::String(s)) if s.chars().count() > 2000 => {
                return Err(ServiceError::invalid(
                    format!("face.{}", f.key),
                    "is longer than 2000 characters",
                ));
            }
            Some(Value::String(_) | Value::Number(_) | Value::Bool(_)) | None => {}
            Some(Value::Null) => {}
            Some(_) => {
                return Err(ServiceError::invalid(
                    format!("face.{}", f.key),
                    "must be a string, number or boolean",
                ));
            }
        }
    }
    Ok(String::from_utf8(canonical_json(&Value::Object(face.clone()))).unwrap_or_default())
}

/// A licence request checked against its type (no database needed): what the record and the
/// tokens are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedLicence {
    pub holder_name: String,
    pub code_type: String,
    pub code: String,
    /// Canonical JSON of the face fields.
    pub face: String,
    pub valid_from: Date,
    pub valid_until: Option<Date>,
    pub area_code: Option<String>,
    pub number: Option<String>,
}

/// Checks a request against its licence type, `today` being the issuing day: the holder (code
/// type and check character), the face fields, the dates (the type's validity when none is
/// given), the area code and the number.
pub fn check_licence(
    input: &NewLicence,
    licence_type: &LicenceTypeRecord,
    today: Date,
) -> Result<CheckedLicence, ServiceError> {
    let kind = HolderKind::parse(&licence_type.holder_kind).unwrap_or(HolderKind::Person);
    let (holder_name, code_type, code) = check_holder(&input.holder, kind)?;
    let face = check_face(&input.face, &type_fields(licence_type))?;
    let valid_from = match &input.valid_from {
        Some(d) => parse_date("valid_from", d)?,
        None => today,
    };
    let valid_until = match (&input.valid_until, licence_type.validity_days) {
        (Some(d), _) => Some(parse_date("valid_until", d)?),
        (None, Some(days)) => Some(valid_from + time::Duration::days(days - 1)),
        (None, None) => None,
    };
    if valid_until.is_some_and(|until| until < valid_from) {
        return Err(ServiceError::invalid(
            "valid_until",
            "must not be before valid_from",
        ));
    }
    if let Some(area) = &input.area_code {
        if area.len() != 6 || !area.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ServiceError::invalid(
                "area_code",
                "must be a 6-digit administrative division code (GB/T 2260)",
            ));
        }
    }
    let number = input
        .number
        .as_deref()
        .map(|n| check_text("number", n, 64))
        .transpose()?;
    Ok(CheckedLicence {
        holder_name,
        code_type,
        code,
        face,
        valid_from,
        valid_until,
        area_code: input.area_code.clone(),
        number,
    })
}

/// The licence type, which must be the caller's department's.
async fn own_type(
    ctx: &Context,
    type_code: &str,
    department: &str,
) -> Result<LicenceTypeRecord, ServiceError> {
    let licence_type = ctx
        .licence_type(type_code)
        .await?
        .ok_or_else(|| ServiceError::invalid("type_code", "no such licence type"))?;
    if licence_type.department_code != department {
        return Err(ServiceError::Forbidden(
            "licences of this type are issued by another department".into(),
        ));
    }
    Ok(licence_type)
}

/// A licence this one replaces must exist and be the same department's.
async fn check_previous(
    ctx: &Context,
    previous: &str,
    department: &str,
) -> Result<(), ServiceError> {
    LicenceIdentifier::parse(previous)
        .map_err(|e| ServiceError::invalid("previous_identifier", e.to_string()))?;
    let prev = ctx
        .store
        .licence(previous)
        .await?
        .ok_or_else(|| ServiceError::invalid("previous_identifier", "no such licence"))?;
    if prev.issuer_code != department {
        return Err(ServiceError::invalid(
            "previous_identifier",
            "was issued by another department",
        ));
    }
    Ok(())
}

/// The claims of a licence's tokens.
struct Claims<'a> {
    id: &'a LicenceIdentifier,
    licence_type: &'a LicenceTypeRecord,
    issuer: &'a DepartmentRecord,
    checked: &'a CheckedLicence,
    number: &'a str,
    previous: Option<&'a str>,
    now: OffsetDateTime,
}

impl Claims<'_> {
    fn payload(&self) -> Value {
        let c = self.checked;
        let mut holder = serde_json::json!({"name": c.holder_name, "code_type": c.code_type});
        if !self.licence_type.token_omits_holder_code {
            holder["code"] = Value::from(c.code.clone());
        }
        let face: Value = serde_json::from_str(&c.face).unwrap_or(Value::Null);
        let mut payload = serde_json::json!({
            "iss": self.issuer.code,
            "jti": self.id.as_str(),
            "iat": self.now.unix_timestamp(),
            "nbf": midnight(c.valid_from),
            "licence": {
                "identifier": self.id.as_str(),
                "type_code": self.licence_type.type_code,
                "type_name": self.licence_type.name,
                "number": self.number,
                "holder": holder,
                "issuer": {"code": self.issuer.code, "name": self.issuer.name},
                "issue_date": format_date(today(self.now)),
                "valid_from": format_date(c.valid_from),
                "valid_until": c.valid_until.map(format_date),
                "area_code": c.area_code,
                "face": face,
                "previous_identifier": self.previous,
            }
        });
        if let Some(until) = c.valid_until {
            // Valid through the whole last day.
            payload["exp"] = Value::from(midnight(until + time::Duration::days(1)));
        }
        payload
    }
}

/// Signs the full token and the SD-JWT of `payload`: in the SD-JWT each personal claim (the
/// holder's name and code, every face field) is a salted digest, its disclosure beside it.
fn sign_tokens(signer: &CachedSigner, payload: &Value) -> Result<(String, String), ServiceError> {
    // The cached signer carries the encoded header of each token type (see `signer_for`).
    let sign = |typ: &str, claims: &Value| {
        let header = signer
            .token_header(typ)
            .ok_or(crate::pki::PkiError::Signing)?;
        token::sign_encoded(signer.signer.as_ref(), header, claims)
    };
    let token = sign(token::TOKEN_TYPE, payload)?;
    let mut concealed = payload.clone();
    let unsignable = |_| ServiceError::Pki(crate::pki::PkiError::Signing);
    let mut disclosures =
        sd_jwt::conceal(&mut concealed, &["licence", "holder"], |k| k != "code_type")
            .map_err(unsignable)?;
    disclosures.extend(
        sd_jwt::conceal(&mut concealed, &["licence", "face"], |_| true).map_err(unsignable)?,
    );
    let issuer_signed = sign(sd_jwt::SD_TOKEN_TYPE, &concealed)?;
    let parts: Vec<&str> = disclosures.iter().map(String::as_str).collect();
    Ok((token, sd_jwt::join_parts(&issuer_signed, &parts)))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

/// The holder as the log records it: a keyed hash (the installation's PII key) of the licence
/// identifier with the holder's identity and name hashes. It differs for every licence, so a
/// public proof of logging links no two licences of one person, and it reveals nothing
/// without the key; the service can recompute it from the licence record.
pub fn holder_commitment(ctx: &Context, record: &LicenceRecord) -> String {
    ctx.pii.hash(&format!(
        "licence-holder\n{}\n{}\n{}",
        record.identifier,
        record.holder_hash,
        ctx.pii.hash(&record.holder_name)
    ))
}

/// The `licence.issued` event: hashes of the personal data and of the tokens, never the data.
fn issued_event(
    ctx: &Context,
    caller: &Caller,
    record: &LicenceRecord,
    now: OffsetDateTime,
) -> Event {
    let sd_jwt_signed = record
        .sd_jwt
        .as_deref()
        .map(|t| sha256_hex(t.split_once('~').map_or(t, |(jwt, _)| jwt)));
    Event::new(EventType::LicenceIssued, now, record.identifier.as_str())
        .department(record.issuer_code.as_str())
        .actor(Some(caller.key_id()))
        .data("type_code", &record.type_code)
        .data("holder_commitment", holder_commitment(ctx, record))
        .data("valid_from", &record.valid_from)
        .data("valid_until", &record.valid_until)
        .data("token_sha256", sha256_hex(&record.token))
        .data("sd_jwt_sha256", sd_jwt_signed)
        .data("signer_serial", &record.signer_serial)
        .data("previous_identifier", &record.previous_identifier)
}

/// Issues a licence of one of the caller's department's types (operator): check → authorise →
/// sign → store with the log entry.
pub async fn issue(
    ctx: &Context,
    caller: &Caller,
    input: NewLicence,
) -> Result<(LicenceRecord, u64), ServiceError> {
    if !identifier::is_type_code(&input.type_code) {
        return Err(ServiceError::invalid(
            "type_code",
            "must be a 21-character licence type code",
        ));
    }
    caller.require(&[Role::Operator])?;
    let department = caller.require_operator()?.to_owned();
    let licence_type = own_type(ctx, &input.type_code, &department).await?;
    let now = ctx.clock.now();
    let checked = check_licence(&input, &licence_type, today(now))?;
    if let Some(previous) = &input.previous_identifier {
        check_previous(ctx, previous, &department).await?;
    }
    let id = LicenceIdentifier::generate(&licence_type.type_code, &department, now)
        .map_err(|e| ServiceError::invalid("type_code", e.to_string()))?;
    let number = checked.number.clone().unwrap_or_else(|| {
        // The random part: the time part alone would repeat within a millisecond.
        format!("{}{}", checked.valid_from.year(), &id.serial_random()[..10])
    });
    let issuer = ctx
        .department(&department)
        .await?
        .ok_or(ServiceError::NotFound("department"))?;
    // Under a CA that was not revoked when it was looked up (see `signer_for`).
    let signer = signer_for(ctx, &department).await?;
    let payload = Claims {
        id: &id,
        licence_type: &licence_type,
        issuer: &issuer,
        checked: &checked,
        number: &number,
        previous: input.previous_identifier.as_deref(),
        now,
    }
    .payload();
    // Two ES256 signatures and their JSON: tens of microseconds, less than handing the work
    // to a blocking thread and back would cost (two thread wake-ups), so signed here.
    let (token, sd_jwt) = sign_tokens(&signer, &payload)?;
    let record = LicenceRecord {
        identifier: id.as_str().to_owned(),
        type_code: licence_type.type_code.clone(),
        number,
        holder_hash: ctx.pii.hash(&checked.code),
        holder_name: checked.holder_name,
        holder_code_type: checked.code_type,
        holder_code: checked.code,
        issuer_code: department,
        issue_date: format_date(today(now)),
        valid_from: format_date(checked.valid_from),
        valid_until: checked.valid_until.map(format_date),
        area_code: checked.area_code,
        face: checked.face,
        status: LicenceState::Valid,
        status_reason: None,
        status_at: None,
        previous_identifier: input.previous_identifier,
        signer_serial: signer.serial.clone(),
        token,
        sd_jwt: Some(sd_jwt),
        created_at: now.unix_timestamp(),
    };
    let event = issued_event(ctx, caller, &record, now);
    let indices = ctx
        .store
        .apply(
            WriteSet::new()
                .change(Change::InsertLicence(Box::new(record.clone())))
                .event(event.to_new_event()),
        )
        .await?;
    Ok((record, indices.first().copied().unwrap_or_default()))
}

// ---------------------------------------------------------------- status changes

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    Revoke,
    Suspend,
    Reinstate,
}

async fn load(ctx: &Context, identifier: &str) -> Result<LicenceRecord, ServiceError> {
    if LicenceIdentifier::parse(identifier).is_err() {
        return Err(ServiceError::NotFound("licence"));
    }
    ctx.store
        .licence(identifier)
        .await?
        .ok_or(ServiceError::NotFound("licence"))
}

/// Revokes (final), suspends or reinstates a licence (issuing department's operator only).
pub async fn change_status(
    ctx: &Context,
    caller: &Caller,
    identifier: &str,
    action: StatusAction,
    reason: &str,
) -> Result<(LicenceRecord, u64), ServiceError> {
    let reason = check_text("reason", reason, 500)?;
    let record = load(ctx, identifier).await?;
    caller.require_operator_of(&record.issuer_code)?;
    let now = ctx.clock.now();
    let current = effective_status(&record, today(now));
    let (to, event_type) = match (action, current) {
        (StatusAction::Revoke, Status::Revoked) => {
            return Err(ServiceError::Conflict(
                "the licence is revoked already; revocation is final".into(),
            ))
        }
        (StatusAction::Revoke, _) => (LicenceState::Revoked, EventType::LicenceRevoked),
        (StatusAction::Suspend, Status::Valid) => {
            (LicenceState::Suspended, EventType::LicenceSuspended)
        }
        (StatusAction::Reinstate, Status::Suspended) => {
            (LicenceState::Valid, EventType::LicenceReinstated)
        }
        (StatusAction::Suspend, s) | (StatusAction::Reinstate, s) => {
            return Err(ServiceError::Conflict(format!(
                "the licence is {}",
                s.as_str()
            )))
        }
    };
    let event = Event::new(event_type, now, record.identifier.as_str())
        .department(record.issuer_code.as_str())
        .actor(Some(caller.key_id()))
        .data("reason", &reason)
        .data("from", record.status.as_str());
    let writes = WriteSet::new()
        .change(Change::SetLicenceStatus {
            identifier: record.identifier.clone(),
            from: record.status,
            to,
            reason: reason.clone(),
            at: now.unix_timestamp(),
        })
        .event(event.to_new_event());
    let applied = ctx.store.apply(writes).await;
    // Forgotten whatever the outcome: a failed write may still have committed (a lost answer).
    ctx.licence_views.forget(&record.identifier);
    let indices = applied.map_err(|e| match e {
        StoreError::NotFound => ServiceError::Conflict(
            "the licence's status changed meanwhile; read it and try again".into(),
        ),
        other => other.into(),
    })?;
    let mut updated = record;
    updated.status = to;
    updated.status_reason = Some(reason);
    updated.status_at = Some(now.unix_timestamp());
    Ok((updated, indices.first().copied().unwrap_or_default()))
}

// ---------------------------------------------------------------- reading and sharing

fn check_purpose(purpose: Option<&str>) -> Result<String, ServiceError> {
    match purpose {
        None => Err(ServiceError::invalid(
            "purpose",
            "is required to read a licence's personal data other than as its issuing department (申请事由)",
        )),
        Some(p) => check_text("purpose", p, 200),
    }
}

/// Whether the caller reads a licence of `issuer` as that issuing department's operator (the
/// only reads that need no purpose and are not logged).
fn is_issuing_operator(caller: &Caller, issuer: &str) -> bool {
    matches!(caller, Caller::Operator { department, .. } if department == issuer)
}

/// An auditor bound to a department reads only that department's licences.
fn auditor_scope(caller: &Caller, issuer: &str) -> Result<(), ServiceError> {
    match caller {
        Caller::Auditor {
            department: Some(d),
            ..
        } if d != issuer => Err(ServiceError::Forbidden(
            "this auditor key is bound to another department".into(),
        )),
        _ => Ok(()),
    }
}

/// The log event of a read of personal data by someone other than the issuing department.
fn read_event(
    event_type: EventType,
    ctx: &Context,
    caller: &Caller,
    subject: &str,
    purpose: &str,
) -> Event {
    let mut event = Event::new(event_type, ctx.clock.now(), subject)
        .actor(Some(caller.key_id()))
        .data("purpose", purpose)
        .data("role", caller.role().as_str());
    if let Some(d) = caller.department() {
        event = event.department(d);
    }
    event
}

/// Reads a licence: its issuing department's operators freely; another department's operator
/// or an auditor (of the issuing department when the key is bound to one) only with a purpose,
/// which is logged. Returns the log index of that read.
pub async fn read(
    ctx: &Context,
    caller: &Caller,
    identifier: &str,
    purpose: Option<&str>,
) -> Result<(LicenceRecord, Option<u64>), ServiceError> {
    caller.require(&[Role::Operator, Role::Auditor])?;
    // A purpose given is checked even when none is needed.
    let given = purpose.map(|p| check_text("purpose", p, 200)).transpose()?;
    let record = load(ctx, identifier).await?;
    if is_issuing_operator(caller, &record.issuer_code) {
        return Ok((record, None));
    }
    auditor_scope(caller, &record.issuer_code)?;
    let purpose = check_purpose(given.as_deref())?;
    let event = read_event(
        EventType::LicenceRead,
        ctx,
        caller,
        &record.identifier,
        &purpose,
    )
    .data("issuer", &record.issuer_code);
    let indices = ctx
        .store
        .apply(WriteSet::new().event(event.to_new_event()))
        .await?;
    Ok((record, indices.first().copied()))
}

/// A holder's licences (operators and auditors, with a purpose, logged). An auditor bound to a
/// department sees only that department's licences.
pub async fn by_holder(
    ctx: &Context,
    caller: &Caller,
    holder_code: &str,
    purpose: Option<&str>,
) -> Result<(Vec<LicenceRecord>, Option<u64>), ServiceError> {
    let code = check_text("holder_code", holder_code, 64)?;
    caller.require(&[Role::Operator, Role::Auditor])?;
    let purpose = check_purpose(purpose)?;
    let holder_hash = ctx.pii.hash(&code);
    let mut records = ctx.store.licences_by_holder(&holder_hash).await?;
    if let Caller::Auditor {
        department: Some(d),
        ..
    } = caller
    {
        records.retain(|r| &r.issuer_code == d);
    }
    let event = read_event(
        EventType::LicenceHolderQuery,
        ctx,
        caller,
        &holder_hash,
        &purpose,
    )
    .data("results", records.len());
    let indices = ctx
        .store
        .apply(WriteSet::new().event(event.to_new_event()))
        .await?;
    Ok((records, indices.first().copied()))
}

/// Whether the caller may have the licence's full token and SD-JWT (its issuing department's
/// operators only).
pub fn may_hold_tokens(caller: &Caller, record: &LicenceRecord) -> bool {
    is_issuing_operator(caller, &record.issuer_code)
}

/// A presentation of the licence's SD-JWT disclosing only `claims` (paths such as
/// `holder.name`, `face.address`), made by the issuing department on the holder's behalf.
/// Returns the presentation and the claims it discloses.
pub async fn present(
    ctx: &Context,
    caller: &Caller,
    identifier: &str,
    claims: &[String],
) -> Result<(String, Vec<String>), ServiceError> {
    let record = load(ctx, identifier).await?;
    caller.require_operator_of(&record.issuer_code)?;
    let stored = record.sd_jwt.as_deref().ok_or_else(|| {
        ServiceError::Conflict(
            "this licence was issued before selective disclosure; re-issue it to get an SD-JWT"
                .into(),
        )
    })?;
    let bad_stored = |_| ServiceError::Pki(crate::pki::PkiError::Signing);
    let parts = sd_jwt::split(stored).map_err(bad_stored)?;
    let decoded =
        token::decode(parts.jwt).map_err(|_| ServiceError::Pki(crate::pki::PkiError::Signing))?;
    let available = sd_jwt::paths(&decoded.payload, &parts.disclosures).map_err(bad_stored)?;
    let mut chosen: Vec<&str> = Vec::new();
    let mut names = Vec::new();
    for (i, claim) in claims.iter().enumerate() {
        let found = available
            .iter()
            .find(|(path, _)| claim_path(path) == claim.as_str())
            .ok_or_else(|| {
                ServiceError::invalid(
                    format!("disclose[{i}]"),
                    format!(
                        "is not a claim of this licence; its claims are {}",
                        available
                            .iter()
                            .map(|(p, _)| claim_path(p))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        if !chosen.contains(&found.1.as_str()) {
            chosen.push(found.1.as_str());
            names.push(claim.clone());
        }
    }
    Ok((sd_jwt::join_parts(parts.jwt, &chosen), names))
}

/// The token anyone may fetch: the SD-JWT's issuer-signed part with no disclosure (digests
/// only, no personal data). `None` for licences issued before selective disclosure.
pub fn public_token(record: &LicenceRecord) -> Option<String> {
    let stored = record.sd_jwt.as_deref()?;
    let (jwt, _) = stored.split_once('~')?;
    Some(format!("{jwt}~"))
}

// ---------------------------------------------------------------- public status

/// 张三 → 张*, 张三丰 → 张*丰, 欧阳娜娜 → 欧**娜.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

/// First 4 and last 4 characters kept, the rest starred.
pub fn mask_code(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

/// What anyone may learn about a licence from its identifier.
#[derive(Debug, Clone, Serialize)]
pub struct PublicStatus {
    pub identifier: String,
    pub status: Status,
    pub licence_name: String,
    pub number: String,
    pub issuer: Party,
    pub holder: MaskedHolder,
    pub issue_date: String,
    pub valid_from: String,
    /// `null` = long-term (长期).
    pub valid_until: Option<String>,
    pub status_changed_at: Option<String>,
    pub checked_at: String,
    pub log_index: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Party {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaskedHolder {
    pub name: String,
    pub code: String,
}

/// The public status of a licence; `None` for unknown or malformed identifiers.
pub async fn public_status(
    ctx: &Context,
    identifier: &str,
) -> Result<Option<PublicStatus>, ServiceError> {
    let Some(view) = public_view(ctx, identifier).await? else {
        return Ok(None);
    };
    let now = ctx.clock.now();
    let licence_name = ctx
        .licence_type(&view.type_code)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    let issuer_name = ctx
        .department(&view.issuer_code)
        .await?
        .map(|d| d.name)
        .unwrap_or_default();
    let log_index = ctx.issuance_index(identifier).await?;
    Ok(Some(PublicStatus {
        identifier: view.identifier.clone(),
        status: status_of(view.status, view.valid_until.as_deref(), today(now)),
        licence_name,
        number: view.number.clone(),
        issuer: Party {
            code: view.issuer_code.clone(),
            name: issuer_name,
        },
        holder: MaskedHolder {
            name: view.masked_holder_name.clone(),
            code: view.masked_holder_code.clone(),
        },
        issue_date: view.issue_date.clone(),
        valid_from: view.valid_from.clone(),
        valid_until: view.valid_until.clone(),
        status_changed_at: view.status_at.map(crate::clock::rfc3339),
        checked_at: crate::clock::rfc3339(now.unix_timestamp()),
        log_index,
    }))
}

/// The public view of a licence, from memory when this instance has it: a status change here
/// forgets it at once ([`change_status`]), one made by another instance within a quarter of a
/// second (`startup::watch_views`, which follows the log), so the next request reads it again.
pub async fn public_view(
    ctx: &Context,
    identifier: &str,
) -> Result<Option<Arc<LicenceView>>, ServiceError> {
    // Only identifiers that parse are kept, so a kept one needs no parsing again.
    let key = identifier.to_owned();
    if let Some(view) = ctx.licence_views.get(&key) {
        return Ok(Some(view));
    }
    if LicenceIdentifier::parse(identifier).is_err() {
        return Ok(None);
    }
    let epoch = ctx.licence_views.epoch();
    let Some(record) = ctx.store.licence(identifier).await? else {
        return Ok(None);
    };
    let view = Arc::new(LicenceView {
        identifier: record.identifier,
        type_code: record.type_code,
        number: record.number,
        masked_holder_name: mask_name(&record.holder_name),
        masked_holder_code: mask_code(&record.holder_code),
        issuer_code: record.issuer_code,
        issue_date: record.issue_date,
        valid_from: record.valid_from,
        valid_until: record.valid_until,
        status: record.status,
        status_at: record.status_at,
    });
    ctx.licence_views.keep(epoch, key, view.clone());
    Ok(Some(view))
}

// ---------------------------------------------------------------- verification

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// `jws` (the full token) or `sd-jwt` (a selective-disclosure presentation).
    pub format: &'static str,
    pub signature_valid: bool,
    pub chain_valid: bool,
    pub status: Status,
    pub identifier: Option<String>,
    pub issuer: Option<Party>,
    pub log_index: Option<u64>,
    /// Whether the token is the one this service issued for that identifier.
    pub token_matches_record: bool,
    /// SD-JWT only: whether every disclosure presented is one the signed token commits to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclosures_valid: Option<bool>,
    /// SD-JWT only, and only when the signature, chain and disclosures are valid: the claims
    /// the presenter chose to disclose, by path (`holder.name`, `face.address`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclosed: Option<Map<String, Value>>,
    /// Why something is not valid, when the answer says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    pub checked_at: String,
}

/// The claim path a presentation uses: relative to the token's `licence` object.
fn claim_path(full: &str) -> &str {
    full.strip_prefix("licence.").unwrap_or(full)
}

/// Verifies a token (or the stored token of an identifier): a full JWS or an SD-JWT
/// presentation. Signature, chain to a trusted root, current status and the log entry of its
/// issuance; for an SD-JWT also each disclosure against the signed digests. A bad signature or
/// disclosure is an answer, not an error; only input that is not a token at all is refused.
pub async fn verify_token(ctx: &Context, token: &str) -> Result<VerifyReport, ServiceError> {
    let presented = Presented::parse(token)?;
    let decoded =
        token::decode(presented.jwt).map_err(|e| ServiceError::invalid("token", e.to_string()))?;
    let now = ctx.clock.now();
    let mut problem = None;
    let signature_valid =
        decoded.signature_valid() && decoded.header["typ"] == presented.expected_type;
    if !signature_valid {
        problem = Some("the signature does not verify, or the token type is wrong".to_owned());
    }
    let chain_problem = chain_problem(ctx, &decoded, now).await?;
    let chain_valid = chain_problem.is_none();
    if let Some(p) = chain_problem {
        problem.get_or_insert_with(|| p.to_owned());
    }
    let (disclosures_valid, disclosed) = match &presented.disclosures {
        None => (None, None),
        Some(list) => match sd_jwt::reveal(&decoded.payload, list) {
            Ok((_, found)) => {
                let shown = (signature_valid && chain_valid).then(|| {
                    found
                        .into_iter()
                        .map(|(k, v)| (claim_path(&k).to_owned(), v))
                        .collect()
                });
                (Some(true), shown)
            }
            Err(e) => {
                problem.get_or_insert_with(|| e.to_string());
                (Some(false), None)
            }
        },
    };
    let identifier = decoded.payload["jti"].as_str().map(str::to_owned);
    let found = registry_view(ctx, identifier.as_deref(), &presented, now).await?;
    Ok(VerifyReport {
        format: if presented.disclosures.is_some() {
            "sd-jwt"
        } else {
            "jws"
        },
        signature_valid,
        chain_valid,
        status: found.status,
        identifier,
        issuer: found.issuer,
        log_index: found.log_index,
        token_matches_record: found.matches,
        disclosures_valid,
        disclosed,
        problem,
        checked_at: crate::clock::rfc3339(now.unix_timestamp()),
    })
}

/// A token as presented: a full JWS, or an SD-JWT's issuer-signed part and disclosures.
struct Presented<'a> {
    whole: &'a str,
    jwt: &'a str,
    disclosures: Option<Vec<&'a str>>,
    expected_type: &'static str,
}

impl<'a> Presented<'a> {
    fn parse(token: &'a str) -> Result<Self, ServiceError> {
        if token.len() > token::MAX_TOKEN_BYTES {
            return Err(ServiceError::invalid(
                "token",
                token::TokenError::TooLarge.to_string(),
            ));
        }
        let whole = token.trim();
        if !whole.contains('~') {
            return Ok(Presented {
                whole,
                jwt: whole,
                disclosures: None,
                expected_type: token::TOKEN_TYPE,
            });
        }
        let parts =
            sd_jwt::split(whole).map_err(|e| ServiceError::invalid("token", e.to_string()))?;
        Ok(Presented {
            whole,
            jwt: parts.jwt,
            disclosures: Some(parts.disclosures),
            expected_type: sd_jwt::SD_TOKEN_TYPE,
        })
    }

    /// Whether this is the token the service issued for `record` (for an SD-JWT: the same
    /// issuer-signed part).
    fn matches(&self, record: &LicenceRecord) -> bool {
        match &self.disclosures {
            None => record.token == self.whole,
            Some(_) => record
                .sd_jwt
                .as_deref()
                .and_then(|stored| stored.split('~').next())
                .is_some_and(|stored| stored == self.jwt),
        }
    }
}

/// Why the token's chain does not vouch for it: it must lead to this service's root, through
/// a licence signer of the token's department that is not revoked, under a CA that is not.
async fn chain_problem(
    ctx: &Context,
    decoded: &token::DecodedToken,
    now: OffsetDateTime,
) -> Result<Option<&'static str>, ServiceError> {
    let roots: Vec<Vec<u8>> = ctx.pki.roots().await?.into_iter().map(|r| r.der).collect();
    if verify_chain(&decoded.chain, &roots, now.unix_timestamp()).is_err() {
        return Ok(Some("the x5c chain does not lead to this service's root"));
    }
    signer_problem(ctx, decoded).await
}

/// What the registry says of the token's licence.
struct RegistryView {
    status: Status,
    issuer: Option<Party>,
    log_index: Option<u64>,
    matches: bool,
}

async fn registry_view(
    ctx: &Context,
    identifier: Option<&str>,
    presented: &Presented<'_>,
    now: OffsetDateTime,
) -> Result<RegistryView, ServiceError> {
    let record = match identifier {
        Some(id) if LicenceIdentifier::parse(id).is_ok() => ctx.store.licence(id).await?,
        _ => None,
    };
    let Some(r) = record else {
        return Ok(RegistryView {
            status: Status::NotFound,
            issuer: None,
            log_index: None,
            matches: false,
        });
    };
    let name = ctx
        .department(&r.issuer_code)
        .await?
        .map(|d| d.name)
        .unwrap_or_default();
    Ok(RegistryView {
        status: effective_status(&r, today(now)),
        issuer: Some(Party {
            code: r.issuer_code.clone(),
            name,
        }),
        log_index: ctx.issuance_index(&r.identifier).await?,
        matches: presented.matches(&r),
    })
}

/// Why the token's signing certificate does not vouch for it, or `None`: it must be a
/// licence-signer certificate this service issued to the token's `iss` department, not
/// revoked, under a department CA that is not revoked.
async fn signer_problem(
    ctx: &Context,
    decoded: &token::DecodedToken,
) -> Result<Option<&'static str>, ServiceError> {
    let Some(leaf) = decoded.chain.first() else {
        return Ok(Some("the token carries no signing certificate"));
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
        return Ok(Some("the signing certificate cannot be read"));
    };
    let Some(stored) = ctx
        .store
        .certificate(&hex::encode(cert.raw_serial()))
        .await?
    else {
        return Ok(Some(
            "the signing certificate was not issued by this service",
        ));
    };
    if stored.der != *leaf {
        return Ok(Some(
            "the signing certificate is not the one this service issued",
        ));
    }
    if stored.kind != CertKind::LicenceSigner {
        return Ok(Some(
            "the signing certificate is not a licence-signing certificate",
        ));
    }
    if stored.department_code.as_deref() != decoded.payload["iss"].as_str() {
        return Ok(Some(
            "the signing certificate belongs to another department than the token's issuer",
        ));
    }
    if stored.revoked_at.is_some() {
        return Ok(Some("the signing certificate is revoked"));
    }
    let cas = ctx
        .store
        .certificates_of_kind(CertKind::DepartmentCa, stored.department_code.as_deref())
        .await?;
    match cas
        .iter()
        .find(|ca| crate::pki::chain::issued_by(leaf, &ca.der))
    {
        None => Ok(Some("the signing certificate's department CA is unknown")),
        Some(ca) if ca.revoked_at.is_some() => Ok(Some(
            "the signing certificate was issued under a revoked department CA",
        )),
        Some(_) => Ok(None),
    }
}

/// Verifies by identifier: the stored token is checked like a presented one.
pub async fn verify_identifier(
    ctx: &Context,
    identifier: &str,
) -> Result<VerifyReport, ServiceError> {
    LicenceIdentifier::parse(identifier)
        .map_err(|e| ServiceError::invalid("identifier", e.to_string()))?;
    match ctx.store.licence(identifier).await? {
        Some(record) => verify_token(ctx, &record.token).await,
        None => Ok(VerifyReport {
            format: "jws",
            signature_valid: false,
            chain_valid: false,
            status: Status::NotFound,
            identifier: Some(identifier.to_owned()),
            issuer: None,
            log_index: None,
            token_matches_record: false,
            disclosures_valid: None,
            disclosed: None,
            problem: Some("no licence has this identifier".into()),
            checked_at: crate::clock::rfc3339(ctx.clock.now().unix_timestamp()),
        }),
    }
}

/// The licence-signing keys as a JWK set (RFC 7517), each with its `x5c` chain.
pub async fn jwks(ctx: &Context) -> Result<Value, ServiceError> {
    use base64::engine::general_purpose::STANDARD;
    let mut keys = Vec::new();
    for cert in ctx
        .store
        .certificates_of_kind(CertKind::LicenceSigner, None)
        .await?
    {
        if cert.revoked_at.is_some() {
            continue;
        }
        let Some(stored) = ctx.store.key(&cert.key_id).await? else {
            continue;
        };
        // Uncompressed P-256 point: 0x04 ‖ x ‖ y.
        if stored.public_key.len() != 65 {
            continue;
        }
        // The CA that issued this signer (a department may have had several).
        let ca = match &cert.department_code {
            Some(d) => ctx
                .store
                .certificates_of_kind(CertKind::DepartmentCa, Some(d))
                .await?
                .into_iter()
                .find(|ca| crate::pki::chain::issued_by(&cert.der, &ca.der)),
            None => None,
        };
        let mut x5c = vec![STANDARD.encode(&cert.der)];
        if let Some(ca) = ca {
            x5c.push(STANDARD.encode(&ca.der));
        }
        keys.push(serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&stored.public_key[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&stored.public_key[33..]),
            "kid": cert.key_id,
            "use": "sig",
            "alg": "ES256",
            "x5c": x5c,
        }));
    }
    Ok(serde_json::json!({ "keys": keys }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_times_are_china_standard_time_midnights() {
        // 2026-01-01 00:00 +08:00 = 2025-12-31 16:00 UTC = 1767196800.
        let d = Date::from_calendar_date(2026, time::Month::January, 1).unwrap();
        assert_eq!(midnight(d), 1_767_196_800);
    }

    fn person_type(validity_days: Option<i64>) -> LicenceTypeRecord {
        LicenceTypeRecord {
            type_code: "11110000000000010X001".into(),
            department_code: "11110000000000010X".into(),
            seq: 1,
            name: "居住证".into(),
            fields: r#"[{"key":"address","label":"住所","required":true}]"#.into(),
            holder_kind: "person".into(),
            validity_days,
            token_omits_holder_code: false,
            created_at: 0,
        }
    }

    fn request(v: Value) -> NewLicence {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn licence_requests_are_checked_without_the_database() {
        let day = Date::from_calendar_date(2026, time::Month::March, 1).unwrap();
        let base = serde_json::json!({
            "type_code": "11110000000000010X001",
            "holder": {"name": " 张三 ", "code_type": "111", "code": "11010519491231002X"},
            "face": {"address": "福州"},
        });
        let checked = check_licence(&request(base.clone()), &person_type(Some(365)), day).unwrap();
        assert_eq!(checked.holder_name, "张三");
        assert_eq!(checked.valid_from, day);
        assert_eq!(
            checked.valid_until,
            Some(Date::from_calendar_date(2027, time::Month::February, 28).unwrap()),
            "365 days including the first"
        );
        assert_eq!(checked.face, r#"{"address":"福州"}"#);
        let long_term = check_licence(&request(base.clone()), &person_type(None), day).unwrap();
        assert_eq!(long_term.valid_until, None);
        let field = |v: Value| match check_licence(&request(v), &person_type(None), day) {
            Err(ServiceError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert_eq!(
            field(with("valid_until", Value::from("2026-02-28"))),
            "valid_until"
        );
        assert_eq!(
            field(with("valid_from", Value::from("2026-2-1"))),
            "valid_from"
        );
        assert_eq!(field(with("area_code", Value::from("35010"))), "area_code");
        assert_eq!(field(with("number", Value::from(""))), "number");
        assert_eq!(field(with("face", serde_json::json!({}))), "face.address");
        let mut bad_id = base.clone();
        bad_id["holder"]["code"] = Value::from("110105194912310021");
        assert_eq!(field(bad_id), "holder.code");
        let mut company = base.clone();
        company["holder"]["code_type"] = Value::from("001");
        assert_eq!(field(company), "holder.code_type");
    }

    #[test]
    fn masking() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张三丰"), "张*丰");
        assert_eq!(mask_name("欧阳娜娜"), "欧**娜");
        assert_eq!(mask_name("李"), "*");
        assert_eq!(mask_code("11010519491231002X"), "1101**********002X");
        assert_eq!(mask_code("12345678"), "********");
    }

    #[test]
    fn face_is_checked_against_the_type() {
        let fields = vec![
            FieldSpec {
                key: "address".into(),
                label: "住所".into(),
                required: true,
            },
            FieldSpec {
                key: "scope".into(),
                label: "经营范围".into(),
                required: false,
            },
        ];
        let face = |v: Value| v.as_object().unwrap().clone();
        assert!(check_face(&face(serde_json::json!({"address": "福州"})), &fields).is_ok());
        let err = check_face(&face(serde_json::json!({"scope": "x"})), &fields).unwrap_err();
        assert!(matches!(err, ServiceError::Invalid { ref field, .. } if field == "face.address"));
        let err = check_face(
            &face(serde_json::json!({"address": "a", "colour": "red"})),
            &fields,
        )
        .unwrap_err();
        assert!(matches!(err, ServiceError::Invalid { ref field, .. } if field == "face.colour"));
        let err = check_face(&face(serde_json::json!({"address": {"x": 1}})), &fields).unwrap_err();
        assert!(matches!(err, ServiceError::Invalid { ref field, .. } if field == "face.address"));
    }
}
