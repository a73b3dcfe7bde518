//! Electronic seals (电子印章, DESIGN.md §5): a department's named, typed seals, each with its
//! own key and certificate under the department CA (digitalSignature + contentCommitment, so
//! that PAdES validators accept it for non-repudiation), and a generated appearance.

pub mod appearance;

use ring::rand::{SecureRandom, SystemRandom};

use crate::admin::departments::certificate_event;
use crate::auth::{Caller, Role};
use crate::context::Context;
use crate::error::ServiceError;
use crate::log::{Event, EventType};
use crate::store::{CertificateRecord, Change, SealRecord, WriteSet};

pub const KINDS: &[&str] = &["official", "contract", "finance", "invoice", "other"];
const DEFAULT_VALID_DAYS: i64 = 3 * 365;

/// A seal with its certificate.
#[derive(Debug, Clone)]
pub struct Seal {
    pub record: SealRecord,
    pub certificate: CertificateRecord,
}

impl Seal {
    /// `valid` or `revoked`.
    pub fn status(&self) -> &'static str {
        if self.certificate.revoked_at.is_some() {
            "revoked"
        } else {
            "valid"
        }
    }
}

fn new_id() -> Result<String, ServiceError> {
    let mut b = [0u8; 8];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ServiceError::Pki(crate::pki::PkiError::KeyGeneration))?;
    Ok(format!("seal_{}", hex::encode(b)))
}

/// Creates a seal for the caller's department (operator).
pub async fn create(
    ctx: &Context,
    caller: &Caller,
    name: &str,
    kind: &str,
    valid_days: Option<i64>,
) -> Result<(Seal, u64), ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "name",
            "must be 1 to 64 characters, no control characters",
        ));
    }
    if !KINDS.contains(&kind) {
        return Err(ServiceError::invalid(
            "kind",
            "must be official, contract, finance, invoice or other",
        ));
    }
    let days = valid_days.unwrap_or(DEFAULT_VALID_DAYS);
    if !(1..=3650).contains(&days) {
        return Err(ServiceError::invalid(
            "valid_days",
            "must be between 1 and 3650",
        ));
    }
    caller.require(&[Role::Operator])?;
    let department = caller.department.clone().unwrap_or_default();
    let now = ctx.clock.now();
    let issued = ctx
        .pki
        .issue_department_leaf(
            &department,
            "seal",
            name,
            vec![
                rcgen::KeyUsagePurpose::DigitalSignature,
                rcgen::KeyUsagePurpose::ContentCommitment,
            ],
            days,
            now,
        )
        .await?;
    let record = SealRecord {
        id: new_id()?,
        department_code: department.clone(),
        name: name.to_owned(),
        kind: kind.to_owned(),
        certificate_serial: issued.certificate.serial.clone(),
        created_at: now.unix_timestamp(),
    };
    let created = Event::new(EventType::SealCreated, now, record.id.as_str())
        .department(department.as_str())
        .actor(Some(&caller.key_id))
        .data("name", name)
        .data("kind", kind)
        .data("certificate_serial", &record.certificate_serial);
    let certificate = certificate_event(&issued.certificate, now).actor(Some(&caller.key_id));
    let indices = ctx
        .store
        .apply(
            WriteSet::new()
                .change(Change::InsertKey(issued.key))
                .change(Change::InsertCertificate(issued.certificate.clone()))
                .change(Change::InsertSeal(record.clone()))
                .event(created.to_new_event())
                .event(certificate.to_new_event()),
        )
        .await?;
    Ok((
        Seal {
            record,
            certificate: issued.certificate,
        },
        indices.first().copied().unwrap_or_default(),
    ))
}

async fn with_certificate(ctx: &Context, record: SealRecord) -> Result<Seal, ServiceError> {
    let certificate = ctx
        .store
        .certificate(&record.certificate_serial)
        .await?
        .ok_or_else(|| {
            crate::store::StoreError::Corrupt(format!("seal {} has no certificate", record.id))
        })?;
    Ok(Seal {
        record,
        certificate,
    })
}

/// One of the caller's department's seals. Another department's seal is not found: its
/// existence is not disclosed and it can never be used.
pub async fn get(ctx: &Context, caller: &Caller, id: &str) -> Result<Seal, ServiceError> {
    caller.require(&[Role::Operator])?;
    let record = ctx
        .store
        .seal(id)
        .await?
        .ok_or(ServiceError::NotFound("seal"))?;
    if caller.department.as_deref() != Some(record.department_code.as_str()) {
        return Err(ServiceError::NotFound("seal"));
    }
    with_certificate(ctx, record).await
}

/// The caller's department's seals.
pub async fn list(ctx: &Context, caller: &Caller) -> Result<Vec<Seal>, ServiceError> {
    caller.require(&[Role::Operator])?;
    let department = caller.department.clone().unwrap_or_default();
    let mut out = Vec::new();
    for record in ctx.store.seals_of(&department).await? {
        out.push(with_certificate(ctx, record).await?);
    }
    Ok(out)
}

/// The seal's appearance (SVG).
pub async fn appearance(ctx: &Context, caller: &Caller, id: &str) -> Result<String, ServiceError> {
    let seal = get(ctx, caller, id).await?;
    let department = ctx
        .department(&seal.record.department_code)
        .await?
        .ok_or(ServiceError::NotFound("department"))?;
    Ok(appearance::svg(&department.name, &seal.record.kind))
}
