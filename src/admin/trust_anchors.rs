//! Trust anchors (ARCHITECTURE.md §6): external roots an admin registers so that signatures made by
//! other systems verify. The installation's own root is always trusted and listed first.

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::auth::Caller;
use crate::context::Context;
use crate::error::ServiceError;
use crate::log::{Event, EventType};
use crate::store::{Change, StoreError, TrustAnchorRecord, WriteSet};
use crate::verify::Purpose;

/// What a registered anchor is trusted for, and whether revocation status is required under it.
#[derive(Debug, Clone)]
pub struct Policy {
    pub purposes: Vec<Purpose>,
    pub revocation_required: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            purposes: Purpose::ALL.to_vec(),
            revocation_required: true,
        }
    }
}

/// A trusted root, ours (`builtin`) or registered.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub record: TrustAnchorRecord,
    pub builtin: bool,
}

/// The DER of exactly one PEM `CERTIFICATE` block.
fn pem_certificate(pem: &str) -> Result<Vec<u8>, ServiceError> {
    let mut ders = crate::pki::pem_certificates(pem);
    if ders.len() != 1 || pem.matches("-----BEGIN").count() != 1 {
        return Err(ServiceError::invalid(
            "pem",
            "must be one PEM CERTIFICATE block",
        ));
    }
    Ok(ders.remove(0))
}

fn new_id() -> Result<String, ServiceError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ServiceError::Pki(crate::pki::PkiError::KeyGeneration))?;
    Ok(format!("ta_{}", hex::encode(b)))
}

/// A self-signed CA certificate (a root) and nothing after it: its subject and validity.
fn root_facts(der: &[u8]) -> Result<(String, i64, i64), ServiceError> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|_| ServiceError::invalid("pem", "is not an X.509 certificate"))?;
    if !rest.is_empty() {
        return Err(ServiceError::invalid(
            "pem",
            "has data after the certificate",
        ));
    }
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|b| b.value.ca);
    if !is_ca || cert.subject() != cert.issuer() || cert.verify_signature(None).is_err() {
        return Err(ServiceError::invalid(
            "pem",
            "must be a self-signed CA certificate (a root)",
        ));
    }
    Ok((
        cert.subject().to_string(),
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    ))
}

/// Registers an external root (admin): a self-signed CA certificate, logged.
pub async fn add(
    ctx: &Context,
    caller: &Caller,
    label: &str,
    pem: &str,
    policy: Policy,
) -> Result<(Anchor, u64), ServiceError> {
    caller.require_admin()?;
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 200 || label.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "label",
            "must be 1 to 200 characters, no control characters",
        ));
    }
    let der = pem_certificate(pem)?;
    let (subject, not_before, not_after) = root_facts(&der)?;
    let now = ctx.clock.now();
    let record = TrustAnchorRecord {
        id: new_id()?,
        label: label.to_owned(),
        sha256: hex::encode(crate::pki::cms::sha256(&der)),
        subject,
        not_before,
        not_after,
        created_at: now.unix_timestamp(),
        der,
        purposes: policy
            .purposes
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(","),
        revocation_required: policy.revocation_required,
        disabled: false,
    };
    let event = Event::new(EventType::TrustAnchorAdded, now, record.id.as_str())
        .actor(Some(caller.key_id()))
        .data("label", &record.label)
        .data("purposes", &record.purposes)
        .data(
            "revocation_required",
            if record.revocation_required {
                "true"
            } else {
                "false"
            },
        )
        .data("subject", &record.subject)
        .data("sha256", &record.sha256);
    let indices = ctx
        .store
        .apply(
            WriteSet::new()
                .change(Change::InsertTrustAnchor(record.clone()))
                .event(event.to_new_event()),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ServiceError::Conflict("this certificate is a trust anchor already".into())
            }
            e => e.into(),
        })?;
    Ok((
        Anchor {
            record,
            builtin: false,
        },
        indices.first().copied().unwrap_or_default(),
    ))
}

/// Every trusted root: the installation's own first, then the registered ones.
pub async fn list(ctx: &Context) -> Result<Vec<Anchor>, ServiceError> {
    let builtin =
        |id: &str, label: &str, root: crate::store::CertificateRecord, purposes: &str| Anchor {
            record: TrustAnchorRecord {
                id: id.into(),
                label: label.into(),
                sha256: hex::encode(crate::pki::cms::sha256(&root.der)),
                subject: root.subject.clone(),
                not_before: root.not_before,
                not_after: root.not_after,
                created_at: root.created_at,
                der: root.der,
                purposes: purposes.into(),
                revocation_required: true,
                disabled: false,
            },
            builtin: true,
        };
    let mut out = Vec::new();
    // Every generation of the root: what an older one certified stays verifiable.
    for root in ctx.pki.roots().await? {
        let id = crate::pki::ca_name(&root).unwrap_or_else(|| "root".into());
        let label = match crate::pki::ca_generation(&id) {
            1 => "trustd root CA (this installation)".to_owned(),
            n => format!("trustd root CA, generation {n} (this installation)"),
        };
        out.push(builtin(&id, &label, root, "documents,timestamps,licences"));
    }
    out.push(
        // The national hierarchy signs seals and time-stamps, never licences (ES256 only).
        builtin(
            crate::pki::sm2::ROOT_SM2,
            "trustd SM2 root CA (this installation)",
            ctx.pki.sm2_root().await?,
            "documents,timestamps",
        ),
    );
    out.extend(
        ctx.store
            .trust_anchors()
            .await?
            .into_iter()
            .map(|record| Anchor {
                record,
                builtin: false,
            }),
    );
    Ok(out)
}

impl Anchor {
    /// The anchor as the verifier uses it.
    pub fn for_verification(&self) -> crate::verify::Anchor {
        crate::verify::Anchor {
            label: self.record.label.clone(),
            der: self.record.der.clone(),
            purposes: self
                .record
                .purposes
                .split(',')
                .filter_map(Purpose::parse)
                .collect(),
            revocation_required: self.record.revocation_required,
        }
    }
}

/// The anchors signatures are verified against: every one not disabled.
pub async fn active(ctx: &Context) -> Result<Vec<crate::verify::Anchor>, ServiceError> {
    Ok(list(ctx)
        .await?
        .iter()
        .filter(|a| !a.record.disabled)
        .map(Anchor::for_verification)
        .collect())
}

/// Disables (or enables again) a registered anchor (admin, logged). The installation's own
/// root cannot be disabled.
pub async fn set_disabled(
    ctx: &Context,
    caller: &Caller,
    id: &str,
    disabled: bool,
) -> Result<Anchor, ServiceError> {
    let mut anchor = registered(ctx, caller, id).await?;
    let kind = if disabled {
        EventType::TrustAnchorDisabled
    } else {
        EventType::TrustAnchorEnabled
    };
    let event = Event::new(kind, ctx.clock.now(), id)
        .actor(Some(caller.key_id()))
        .data("sha256", &anchor.record.sha256);
    let change = Change::SetTrustAnchorDisabled {
        id: id.to_owned(),
        disabled,
    };
    apply(ctx, change, event).await?;
    anchor.record.disabled = disabled;
    Ok(anchor)
}

/// Deletes a registered anchor (admin, logged).
pub async fn delete(ctx: &Context, caller: &Caller, id: &str) -> Result<(), ServiceError> {
    let anchor = registered(ctx, caller, id).await?;
    let event = Event::new(EventType::TrustAnchorDeleted, ctx.clock.now(), id)
        .actor(Some(caller.key_id()))
        .data("sha256", &anchor.record.sha256)
        .data("subject", &anchor.record.subject);
    apply(ctx, Change::DeleteTrustAnchor { id: id.to_owned() }, event).await
}

/// A registered anchor an admin may change: not the installation's own root.
async fn registered(ctx: &Context, caller: &Caller, id: &str) -> Result<Anchor, ServiceError> {
    caller.require_admin()?;
    if crate::pki::ca_first_name(id) == "root" || id == crate::pki::sm2::ROOT_SM2 {
        return Err(ServiceError::Conflict(
            "the installation's own roots cannot be disabled or deleted".into(),
        ));
    }
    find(ctx, id).await
}

/// Stores a change to an anchor with its log event; an anchor gone meanwhile is 404.
async fn apply(ctx: &Context, change: Change, event: Event) -> Result<(), ServiceError> {
    ctx.store
        .apply(WriteSet::new().change(change).event(event.to_new_event()))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::NotFound("trust anchor"),
            e => e.into(),
        })?;
    Ok(())
}

async fn find(ctx: &Context, id: &str) -> Result<Anchor, ServiceError> {
    list(ctx)
        .await?
        .into_iter()
        .find(|a| a.record.id == id && !a.builtin)
        .ok_or(ServiceError::NotFound("trust anchor"))
}
