//! Departments: creating one issues its intermediate CA under the root; the department row,
//! its key, its certificate and the log entries commit together.

use crate::auth::Caller;
use crate::codes::CreditCode;
use crate::context::Context;
use crate::error::ServiceError;
use crate::log::{Event, EventType};
use crate::store::{CertificateRecord, Change, DepartmentRecord, StoreError, WriteSet};

/// A department name: 1 to 200 characters, no control characters.
#[derive(Debug, Clone)]
pub struct DepartmentName(String);

impl DepartmentName {
    pub fn parse(input: &str) -> Result<Self, ServiceError> {
        let trimmed = input.trim();
        let len = trimmed.chars().count();
        if len == 0 || len > 200 {
            return Err(ServiceError::invalid("name", "must be 1 to 200 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(DepartmentName(trimmed.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A department with its CA certificate.
#[derive(Debug, Clone)]
pub struct Department {
    pub record: DepartmentRecord,
    pub ca: CertificateRecord,
}

/// Creates a department and its CA (admin only).
pub async fn create(
    ctx: &Context,
    caller: &Caller,
    code: &str,
    name: &str,
) -> Result<(Department, u64), ServiceError> {
    // validate → authorise → sign → store (with the log entries).
    let code = CreditCode::parse(code).map_err(|e| ServiceError::invalid("code", e.to_string()))?;
    let name = DepartmentName::parse(name)?;
    caller.require_admin()?;
    if ctx.store.department(code.as_str()).await?.is_some() {
        return Err(ServiceError::Conflict(format!(
            "department {code} exists already"
        )));
    }
    let now = ctx.clock.now();
    let issued = ctx
        .pki
        .issue_department_ca(code.as_str(), name.as_str(), 1, now)
        .await?;
    let record = DepartmentRecord {
        code: code.as_str().to_owned(),
        name: name.as_str().to_owned(),
        ca_serial: issued.certificate.serial.clone(),
        created_at: now.unix_timestamp(),
    };
    let actor = Some(caller.key_id());
    let created = Event::new(EventType::DepartmentCreated, now, code.as_str())
        .department(code.as_str())
        .actor(actor)
        .data("name", name.as_str())
        .data("ca_serial", &issued.certificate.serial);
    let (writes, ca) = issued.into_writes(now, actor, Some(created));
    // The department's SM2 CA (the national hierarchy) is created with it.
    let (sm2_writes, _) = ctx
        .pki
        .issue_sm2_department_ca(code.as_str(), name.as_str(), 1, now)
        .await?
        .into_writes(now, actor, None);
    let writes = writes
        .change(Change::InsertDepartment(record.clone()))
        .append(sm2_writes);
    let indices = ctx.store.apply(writes).await.map_err(|e| match e {
        StoreError::Conflict(_) => {
            ServiceError::Conflict(format!("department {code} exists already"))
        }
        other => other.into(),
    })?;
    Ok((
        Department { record, ca },
        indices.first().copied().unwrap_or_default(),
    ))
}

/// A new CA for a department (admin only), the next generation of its CA, named
/// `{code}.{generation}` (see [`crate::pki::ca_name`]):
/// - after its CA was revoked, so that it can make seals and issue licences again (the old CA
///   stays revoked, with all it certified; a revoked SM2 CA is replaced too);
/// - or to renew a CA that is still good (before its end, or to move to a new key): the old CA
///   keeps answering OCSP and signing its CRL for what it certified until that expires, the
///   department's seals get new certificates (new keys) under the new CA, and licence signers
///   come from the new CA from the next licence on. Documents sealed and tokens signed before
///   stay verifiable under the old CA.
pub async fn new_ca(
    ctx: &Context,
    caller: &Caller,
    code: &str,
) -> Result<(Department, u64), ServiceError> {
    caller.require_admin()?;
    let mut record = ctx
        .store
        .department(code)
        .await?
        .ok_or(ServiceError::NotFound("department"))?;
    let cas = ctx
        .store
        .certificates_of_kind(crate::store::CertKind::DepartmentCa, Some(code))
        .await?;
    let renewing = crate::pki::current_ca(cas.clone());
    let now = ctx.clock.now();
    let actor = Some(caller.key_id());
    let generation = crate::pki::next_generation(&cas);
    let issued = ctx
        .pki
        .issue_department_ca(code, &record.name, generation, now)
        .await?;
    let lead = renewing.as_ref().map(|old| {
        Event::new(EventType::DepartmentCaRenewed, now, code)
            .department(code)
            .actor(actor)
            .data("previous_serial", &old.serial)
            .data("serial", &issued.certificate.serial)
    });
    let (writes, ca) = issued.into_writes(now, actor, lead);
    let mut writes = writes.change(Change::SetDepartmentCa {
        code: code.to_owned(),
        serial: ca.serial.clone(),
    });
    if renewing.is_some() {
        writes = writes.append(recertify_seals(ctx, &ca, actor, now).await?);
    } else {
        writes = writes.append(new_sm2_ca_if_revoked(ctx, &record, actor, now).await?);
    }
    let indices = ctx.store.apply(writes).await?;
    ctx.licence_signers.forget(code);
    ctx.pki.forget_ocsp_answers();
    // Seals stamp with their new certificates from the next request.
    ctx.seal_kits.forget_all();
    record.ca_serial = ca.serial.clone();
    Ok((
        Department { record, ca },
        indices.first().copied().unwrap_or_default(),
    ))
}

/// New certificates (new keys) under the renewed CA `ca` for the department's seals whose
/// certificate is neither revoked nor expired, each valid as long as the one it replaces
/// (within the CA's life). The old certificates are not revoked: what they sealed stays valid.
async fn recertify_seals(
    ctx: &Context,
    ca: &CertificateRecord,
    actor: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<WriteSet, ServiceError> {
    let code = ca.department_code.as_deref().unwrap_or_default();
    let mut writes = WriteSet::new();
    for seal in ctx.store.seals_of(code).await? {
        let Some(old) = ctx.store.certificate(&seal.certificate_serial).await? else {
            continue;
        };
        let left = old.not_after - now.unix_timestamp();
        if old.revoked_at.is_some() || left <= 0 {
            continue;
        }
        let leaf = crate::pki::Leaf {
            kind: old.kind,
            common_name: &seal.name,
            key_usages: crate::pki::SEAL_KEY_USAGES.to_vec(),
            valid_days: (left + 86_399) / 86_400,
        };
        let issued = ctx.pki.issue_leaf_under(ca, leaf, now).await?;
        let lead = Event::new(EventType::SealRecertified, now, seal.id.as_str())
            .department(code)
            .actor(actor)
            .data("previous_serial", &old.serial)
            .data("certificate_serial", &issued.certificate.serial);
        let (issued, cert) = issued.into_writes(now, actor, Some(lead));
        writes = writes.append(issued).change(Change::SetSealCertificate {
            seal_id: seal.id.clone(),
            serial: cert.serial,
        });
    }
    Ok(writes)
}

/// A new SM2 CA for a department whose SM2 CA was revoked (none otherwise).
async fn new_sm2_ca_if_revoked(
    ctx: &Context,
    record: &DepartmentRecord,
    actor: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<WriteSet, ServiceError> {
    let cas = ctx
        .store
        .certificates_of_kind(crate::store::CertKind::Sm2DepartmentCa, Some(&record.code))
        .await?;
    if cas.is_empty() || crate::pki::current_ca(cas.clone()).is_some() {
        return Ok(WriteSet::new());
    }
    let generation = crate::pki::next_generation(&cas);
    let (writes, _) = ctx
        .pki
        .issue_sm2_department_ca(&record.code, &record.name, generation, now)
        .await?
        .into_writes(now, actor, None);
    Ok(writes)
}

/// One department (admin only).
pub async fn get(ctx: &Context, caller: &Caller, code: &str) -> Result<Department, ServiceError> {
    caller.require_admin()?;
    let record = ctx
        .store
        .department(code)
        .await?
        .ok_or(ServiceError::NotFound("department"))?;
    with_ca(ctx, record).await
}

async fn with_ca(ctx: &Context, record: DepartmentRecord) -> Result<Department, ServiceError> {
    let ca = ctx
        .store
        .certificate(&record.ca_serial)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("department {} has no CA", record.code)))?;
    Ok(Department { record, ca })
}

/// A page of departments ordered by code (admin only).
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Department>, ServiceError> {
    caller.require_admin()?;
    let mut out = Vec::new();
    for record in ctx.store.departments(after, limit).await? {
        out.push(with_ca(ctx, record).await?);
    }
    Ok(out)
}

/// The link certificates between the root's generations (DER), oldest first. Public.
pub async fn root_links(ctx: &Context) -> Result<Vec<Vec<u8>>, ServiceError> {
    Ok(ctx
        .store
        .certificates_of_kind(crate::store::CertKind::RootLink, None)
        .await?
        .into_iter()
        .map(|c| c.der)
        .collect())
}

/// The CA certificate (DER) of `ca`: `root`, a department code (its current CA), or the
/// name of one generation of a CA (`{code}.2`). Public.
pub async fn ca_certificate(ctx: &Context, ca: &str) -> Result<Vec<u8>, ServiceError> {
    if crate::pki::ca_generation(ca) > 1 {
        let cert = ctx.pki.ca(ca).await?.ok_or(ServiceError::NotFound("CA"))?;
        return Ok(cert.der);
    }
    if ca == "root" {
        let first = ctx.pki.ca(ca).await?.ok_or(ServiceError::NotFound("CA"))?;
        return Ok(first.der);
    }
    if ca == crate::pki::sm2::ROOT_SM2 {
        return Ok(ctx.pki.sm2_root().await?.der);
    }
    if let Some(code) = crate::pki::sm2::department_of(ca) {
        ctx.store
            .department(code)
            .await?
            .ok_or(ServiceError::NotFound("CA"))?;
        return Ok(ctx.pki.department_sm2_ca(code).await?.der);
    }
    let record = ctx
        .store
        .department(ca)
        .await?
        .ok_or(ServiceError::NotFound("CA"))?;
    Ok(with_ca(ctx, record).await?.ca.der)
}

/// An RFC 5280 reason code name.
fn check_reason(reason: &str) -> Result<(), ServiceError> {
    if crate::pki::revocation::reason(reason).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = crate::pki::revocation::REASONS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    Err(ServiceError::invalid(
        "reason",
        format!("must be an RFC 5280 reason: {}", names.join(", ")),
    ))
}

/// An invalidity date: an RFC 3339 time not in the future, as a unix time.
fn check_invalidity_date(text: &str, now: time::OffsetDateTime) -> Result<i64, ServiceError> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ServiceError::invalid("invalidity_date", "must be an RFC 3339 time"))?;
    if t > now {
        return Err(ServiceError::invalid(
            "invalidity_date",
            "must not be in the future",
        ));
    }
    Ok(t.unix_timestamp())
}

/// Revokes a certificate (RFC 5280 reason name, optional RFC 3339 invalidity date not in the
/// future), logs it, and refreshes the issuing CA's CRL. Returns the log index and the
/// revocation time. Authorisation is the caller's business.
pub async fn revoke_certificate(
    ctx: &Context,
    caller: &Caller,
    cert: &CertificateRecord,
    reason: &str,
    invalidity_date: Option<&str>,
    subject: Option<&str>,
) -> Result<(u64, i64), ServiceError> {
    revoke_with_twins(ctx, caller, cert, &[], reason, invalidity_date, subject).await
}

/// One revocation, as it is written for each certificate it concerns.
struct Revocation<'a> {
    actor: &'a str,
    subject: Option<&'a str>,
    reason: &'a str,
    invalidity: Option<i64>,
    now: time::OffsetDateTime,
}

impl Revocation<'_> {
    /// The revocation of `cert` and its log event, added to `writes`.
    fn add_to(&self, writes: WriteSet, cert: &CertificateRecord) -> WriteSet {
        let mut event = Event::new(
            EventType::CertificateRevoked,
            self.now,
            self.subject.unwrap_or(&cert.serial),
        )
        .actor(Some(self.actor))
        .data("serial", &cert.serial)
        .data("kind", cert.kind.as_str())
        .data("issuer", &cert.issuer)
        .data("reason", self.reason);
        if let Some(t) = self.invalidity {
            event = event.data("invalidity_date", t);
        }
        if let Some(d) = &cert.department_code {
            event = event.department(d.as_str());
        }
        writes
            .change(Change::RevokeCertificate {
                serial: cert.serial.clone(),
                at: self.now.unix_timestamp(),
                reason: self.reason.to_owned(),
                invalidity_date: self.invalidity,
            })
            .event(event.to_new_event())
    }
}

/// Revokes `cert` and, in the same write set, its `twins` (a seal's SM2 certificate beside its
/// P-256 one) that are not revoked yet, each logged; the CRLs of their issuers are renewed.
pub async fn revoke_with_twins(
    ctx: &Context,
    caller: &Caller,
    cert: &CertificateRecord,
    twins: &[CertificateRecord],
    reason: &str,
    invalidity_date: Option<&str>,
    subject: Option<&str>,
) -> Result<(u64, i64), ServiceError> {
    check_reason(reason)?;
    let now = ctx.clock.now();
    let invalidity = invalidity_date
        .map(|d| check_invalidity_date(d, now))
        .transpose()?;
    if cert.revoked_at.is_some() {
        return Err(ServiceError::Conflict(
            "the certificate is already revoked".into(),
        ));
    }
    let revocation = Revocation {
        actor: caller.key_id(),
        subject,
        reason,
        invalidity,
        now,
    };
    let mut writes = WriteSet::new();
    for c in std::iter::once(cert).chain(twins.iter().filter(|t| t.revoked_at.is_none())) {
        writes = revocation.add_to(writes, c);
    }
    let indices = ctx.store.apply(writes).await.map_err(|e| match e {
        StoreError::NotFound => ServiceError::Conflict("the certificate is already revoked".into()),
        e => e.into(),
    })?;
    ctx.pki.forget_ocsp_answers();
    // A revoked seal (or one under a revoked CA) stamps no more, from the next request on.
    ctx.seal_kits.forget_all();
    // The CRL is regenerated now; a failure here is repaired on the next fetch.
    for issuer in std::iter::once(&cert.issuer).chain(twins.iter().map(|t| &t.issuer)) {
        if let Err(e) = ctx.pki.current_crl(issuer, now).await {
            tracing::warn!(error = %e, issuer = %issuer, "CRL refresh after a revocation failed");
        }
    }
    Ok((
        indices.first().copied().unwrap_or_default(),
        now.unix_timestamp(),
    ))
}

/// Revokes a department's CA (and its SM2 CA) (admin). Its seals and licence signers can no longer be used, and
/// nothing new can be issued under it.
pub async fn revoke_ca(
    ctx: &Context,
    caller: &Caller,
    code: &str,
    reason: &str,
    invalidity_date: Option<&str>,
) -> Result<(Department, u64), ServiceError> {
    caller.require_admin()?;
    let department = get(ctx, caller, code).await?;
    let ca = &department.ca;
    // The department's SM2 CA (the national hierarchy) is withdrawn with it.
    let twins: Vec<CertificateRecord> = match ctx.pki.department_sm2_ca(code).await {
        Ok(c) => vec![c],
        Err(crate::pki::PkiError::CaRevoked) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let (index, _) = revoke_with_twins(
        ctx,
        caller,
        ca,
        &twins,
        reason,
        invalidity_date,
        Some(&ca.serial),
    )
    .await?;
    ctx.licence_signers.forget(code);
    Ok((get(ctx, caller, code).await?, index))
}
