//! Electronic seals (电子印章, ARCHITECTURE.md §5): a department's named, typed seals, each with its
//! own key and certificate under the department CA (digitalSignature + contentCommitment, so
//! that PAdES validators accept it for non-repudiation), and a generated appearance.

pub mod appearance;
pub mod image;
pub mod pdf;

use ring::rand::{SecureRandom, SystemRandom};

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
    let (writes, certificate) = issued.into_writes(now, Some(&caller.key_id), Some(created));
    let indices = ctx
        .store
        .apply(writes.change(Change::InsertSeal(record.clone())))
        .await?;
    Ok((
        Seal {
            record,
            certificate,
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

/// The seal's appearance (SVG): the generated seal, or the department's approved image.
pub async fn appearance(ctx: &Context, caller: &Caller, id: &str) -> Result<String, ServiceError> {
    let seal = get(ctx, caller, id).await?;
    let department = ctx
        .department(&seal.record.department_code)
        .await?
        .ok_or(ServiceError::NotFound("department"))?;
    Ok(match ctx.store.seal_appearance(&seal.record.id).await? {
        Some(png) => appearance::svg_with_image(&department.name, &seal.record.kind, &png),
        None => appearance::svg(&department.name, &seal.record.kind),
    })
}

/// Uploads the department's own PNG image as the seal's appearance (operator of the
/// department). It waits for an admin's approval and is not used before; a new upload replaces
/// a pending one. Logged with the image's SHA-256. Returns the log index.
pub async fn set_appearance(
    ctx: &Context,
    caller: &Caller,
    id: &str,
    png: Vec<u8>,
) -> Result<u64, ServiceError> {
    let seal = get(ctx, caller, id).await?;
    let checked = png.clone();
    tokio::task::spawn_blocking(move || image::decode_png(&checked))
        .await
        .map_err(|_| ServiceError::Join)?
        .map_err(|detail| ServiceError::Document {
            kind: "invalid-image",
            detail,
        })?;
    let now = ctx.clock.now();
    let sha256 = hex::encode(crate::pki::cms::sha256(&png));
    let event = Event::new(EventType::SealAppearanceSet, now, seal.record.id.as_str())
        .department(seal.record.department_code.as_str())
        .actor(Some(&caller.key_id))
        .data("image_sha256", &sha256)
        .data("media_type", "image/png")
        .data("state", "pending");
    let indices = ctx
        .store
        .apply(
            WriteSet::new()
                .change(Change::SetSealAppearance {
                    seal_id: seal.record.id.clone(),
                    png,
                    sha256,
                    at: now.unix_timestamp(),
                    by: caller.key_id.clone(),
                })
                .event(event.to_new_event()),
        )
        .await?;
    Ok(indices.first().copied().unwrap_or_default())
}

/// A seal for an admin's review: any department's (admins approve seal images for all).
async fn for_review(ctx: &Context, caller: &Caller, id: &str) -> Result<SealRecord, ServiceError> {
    match caller.role {
        Role::Admin => ctx
            .store
            .seal(id)
            .await?
            .ok_or(ServiceError::NotFound("seal")),
        _ => get(ctx, caller, id).await.map(|s| s.record),
    }
}

/// The uploaded image waiting for approval (the admin, or the seal's department's operators).
pub async fn pending_appearance(
    ctx: &Context,
    caller: &Caller,
    id: &str,
) -> Result<Vec<u8>, ServiceError> {
    let record = for_review(ctx, caller, id).await?;
    ctx.store
        .seal_appearance_upload(&record.id)
        .await?
        .ok_or(ServiceError::NotFound("pending appearance"))
}

/// The state of a seal's appearance (approved image, pending upload).
pub async fn appearance_state(
    ctx: &Context,
    id: &str,
) -> Result<crate::store::AppearanceState, ServiceError> {
    Ok(ctx.store.seal_appearance_state(id).await?)
}

/// Approves the pending upload whose SHA-256 the admin reviewed: from now on stamping uses it.
/// `Conflict` when the pending image is not (or no longer) that one. Logged.
pub async fn approve_appearance(
    ctx: &Context,
    caller: &Caller,
    id: &str,
    sha256: &str,
) -> Result<u64, ServiceError> {
    let sha256 = sha256.trim().to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ServiceError::invalid(
            "image_sha256",
            "must be the 64 hex digits of the reviewed image's SHA-256",
        ));
    }
    caller.require_admin()?;
    let record = for_review(ctx, caller, id).await?;
    let state = ctx.store.seal_appearance_state(&record.id).await?;
    match &state.pending {
        None => return Err(ServiceError::NotFound("pending appearance")),
        Some((pending, _, _)) if *pending != sha256 => return Err(ServiceError::Conflict(
            "the pending image is not the one with this SHA-256 (it was replaced); review it again"
                .into(),
        )),
        Some(_) => {}
    }
    let now = ctx.clock.now();
    let event = Event::new(EventType::SealAppearanceApproved, now, record.id.as_str())
        .department(record.department_code.as_str())
        .actor(Some(&caller.key_id))
        .data("image_sha256", &sha256);
    let indices = ctx
        .store
        .apply(
            WriteSet::new()
                .change(Change::ApproveSealAppearance {
                    seal_id: record.id.clone(),
                    sha256,
                    at: now.unix_timestamp(),
                    by: caller.key_id.clone(),
                })
                .event(event.to_new_event()),
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ServiceError::Conflict(
                "the pending image changed meanwhile; review it again".into(),
            ),
            e => e.into(),
        })?;
    Ok(indices.first().copied().unwrap_or_default())
}

/// Revokes one of the caller's department's seals (its certificate): logged, listed in the
/// department CA's CRL and answered as revoked by OCSP from now on; it can no longer stamp.
pub async fn revoke(
    ctx: &Context,
    caller: &Caller,
    id: &str,
    reason: &str,
    invalidity_date: Option<&str>,
) -> Result<(Seal, u64), ServiceError> {
    let seal = get(ctx, caller, id).await?;
    let (index, _) = crate::admin::departments::revoke_certificate(
        ctx,
        caller,
        &seal.certificate,
        reason,
        invalidity_date,
        Some(&seal.record.id),
    )
    .await?;
    Ok((get(ctx, caller, id).await?, index))
}

/// PAdES baseline level of a seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// B-B: the signature alone.
    Basic,
    /// B-T: with a signature time-stamp from the service's TSA.
    Timestamped,
    /// B-LT: B-T, then a `/DSS` with the certificates, CRLs and OCSP responses of the
    /// signer's and the TSA's chains in a further update.
    LongTerm,
    /// B-LTA: B-LT, then a document time-stamp over all of it.
    LongTermArchive,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "B-B" => Some(Level::Basic),
            "B-T" => Some(Level::Timestamped),
            "B-LT" => Some(Level::LongTerm),
            "B-LTA" => Some(Level::LongTermArchive),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Basic => "B-B",
            Level::Timestamped => "B-T",
            Level::LongTerm => "B-LT",
            Level::LongTermArchive => "B-LTA",
        }
    }
}

/// Options of a stamping, already parsed.
#[derive(Debug, Clone)]
pub struct StampOptions {
    pub placement: pdf::Placement,
    pub reason: Option<String>,
    pub location: Option<String>,
    pub level: Level,
}

/// The sealed document and what the log recorded.
#[derive(Debug)]
pub struct Stamped {
    /// The sealed file: the upload (the original) followed by `update`.
    pub original: crate::upload::Upload,
    pub update: Vec<u8>,
    pub sha256: String,
    pub visible: bool,
    pub log_index: u64,
}

/// Seals a PDF with one of the caller's department's seals.
pub async fn stamp(
    ctx: &Context,
    caller: &Caller,
    id: &str,
    mut document: crate::upload::Upload,
    options: StampOptions,
    ticket: crate::work::Ticket,
) -> Result<Stamped, ServiceError> {
    let seal = get(ctx, caller, id).await?;
    if seal.certificate.revoked_at.is_some() {
        return Err(ServiceError::Conflict(
            "the seal is revoked and can no longer stamp".into(),
        ));
    }
    let now = ctx.clock.now();
    if now.unix_timestamp() >= seal.certificate.not_after {
        return Err(ServiceError::Conflict(
            "the seal's certificate has expired".into(),
        ));
    }
    let signer = ctx.pki.signer(&seal.certificate.key_id).await?;
    let ca = ctx
        .store
        .certificates_of_kind("department-ca", Some(&seal.record.department_code))
        .await?
        .into_iter()
        .rfind(|c| c.revoked_at.is_none())
        .ok_or(ServiceError::Pki(crate::pki::PkiError::CaRevoked))?;
    let root = ctx.pki.root().await?;
    // B-LT and B-LTA: the validation material, gathered now (it needs the database).
    let validation = if matches!(options.level, Level::LongTerm | Level::LongTermArchive) {
        let tsa = ctx.tsa.certificate().to_vec();
        let mut v = pdf::Validation {
            certs: vec![
                seal.certificate.der.clone(),
                ca.der.clone(),
                root.der.clone(),
                tsa.clone(),
            ],
            ..Default::default()
        };
        for issuer in [seal.record.department_code.as_str(), "root"] {
            if let Some(crl) = ctx.pki.current_crl(issuer, now).await? {
                v.crls.push(crl);
            }
        }
        for (cert, issuer) in [
            (&seal.certificate.der, &ca.der),
            (&ca.der, &root.der),
            (&tsa, &root.der),
        ] {
            v.ocsps
                .push(ctx.pki.ocsp_response_for(cert, issuer, now).await?);
        }
        Some(v)
    } else {
        None
    };
    let chain = vec![ca.der, root.der];
    let input_sha256 = hex::encode(document.digest().finish());
    let department_name = ctx
        .department(&seal.record.department_code)
        .await?
        .map(|d| d.name.clone())
        .unwrap_or_default();
    let kind = seal.record.kind.clone();
    let uploaded = ctx.store.seal_appearance(&seal.record.id).await?;
    // Room for the CMS: the certificates it carries, the signature and attributes, and the
    // time-stamp token with the TSA certificate (RFC 3161), with a margin.
    let mut reserve = seal.certificate.der.len() + chain.iter().map(Vec::len).sum::<usize>() + 1024;
    if options.level != Level::Basic {
        reserve += ctx.tsa.certificate().len() + 1536;
    }
    let timestamp_reserve = ctx.tsa.certificate().len() + 1536;
    // Unique even for two seals in the same second: a reused field name would read as a change
    // to the earlier signature's field.
    let field_name = format!(
        "Seal-{}-{}-{}",
        seal.record.id,
        now.unix_timestamp(),
        &new_id()?[5..13]
    );
    let signing_time = now
        .format(time::macros::format_description!(
            "D:[year][month][day][hour][minute][second]+00'00'"
        ))
        .unwrap_or_default();
    let level = options.level;
    let seal_name = seal.record.name.clone();
    let cert = seal.certificate.der.clone();
    let stamped = {
        let options = options.clone();
        let signer = signer.clone();
        let tsa = ctx.tsa.clone();
        let tsa_for_lta = ctx.tsa.clone();
        let field_name_lta = field_name.clone();
        let limits = ctx.pdf_limits;
        // Parsing and signing are CPU work: off the async threads.
        tokio::task::spawn_blocking(move || {
            let sign = move |digest: &[u8; 32]| -> Result<Vec<u8>, pdf::PdfError> {
                let cms_signer = crate::pki::cms::CmsSigner {
                    key: signer.as_ref(),
                    certificate: &cert,
                    chain: &chain,
                };
                let mut info =
                    crate::pki::cms::signer_info(&cms_signer, crate::pki::cms::ID_DATA, digest)
                        .map_err(|_| pdf::PdfError::Signing)?;
                if level != Level::Basic {
                    let token = tsa
                        .stamp(info.signature.as_bytes(), now)
                        .map_err(|_| pdf::PdfError::Signing)?;
                    let any = <der::Any as der::Decode>::from_der(&token)
                        .map_err(|_| pdf::PdfError::Signing)?;
                    crate::pki::cms::add_unsigned_attribute(
                        &mut info,
                        crate::pki::cms::ID_TIMESTAMP_TOKEN,
                        any,
                    )
                    .map_err(|_| pdf::PdfError::Signing)?;
                }
                crate::pki::cms::assemble(&cms_signer, crate::pki::cms::ID_DATA, None, info)
                    .map_err(|_| pdf::PdfError::Signing)
            };
            // An uploaded image was checked when it was stored.
            let image = uploaded.and_then(|png| image::decode_png(&png).ok());
            if ticket.cancelled() {
                return Err(pdf::PdfError::Cancelled);
            }
            let mut bytes = document.read_all().map_err(|_| {
                pdf::PdfError::Malformed("the upload could not be read back".into())
            })?;
            let sealed = pdf::seal(
                &bytes,
                document.digest(),
                pdf::SealRequest {
                    placement: options.placement.clone(),
                    field_name,
                    seal_name: &seal_name,
                    department_name: &department_name,
                    kind: &kind,
                    image: image.as_ref(),
                    reason: options.reason.as_deref(),
                    location: options.location.as_deref(),
                    signing_time: signing_time.clone(),
                    reserve,
                    doc_timestamp: false,
                    limits,
                },
                Box::new(sign),
            )?;
            let visible = sealed.visible;
            let mut tail = sealed.update;
            if let Some(validation) = validation {
                // Each further update is made over everything so far (original + tail).
                bytes.reserve_exact(tail.len() + 64 * 1024);
                bytes.extend_from_slice(&tail);
                if ticket.cancelled() {
                    return Err(pdf::PdfError::Cancelled);
                }
                let dss = pdf::add_dss(&bytes, &validation, &limits)?;
                bytes.extend_from_slice(&dss);
                tail.extend_from_slice(&dss);
                if level == Level::LongTermArchive {
                    let mut digest = document.digest();
                    digest.update(&tail);
                    let stamp = move |d: &[u8; 32]| {
                        tsa_for_lta
                            .stamp_digest(d, now)
                            .map_err(|_| pdf::PdfError::Signing)
                    };
                    let archive = pdf::seal(
                        &bytes,
                        digest,
                        pdf::SealRequest {
                            placement: pdf::Placement {
                                visible: false,
                                ..options.placement.clone()
                            },
                            field_name: format!("{field_name_lta}-DocTimeStamp"),
                            seal_name: &seal_name,
                            department_name: &department_name,
                            kind: &kind,
                            image: None,
                            reason: None,
                            location: None,
                            signing_time,
                            reserve: timestamp_reserve,
                            doc_timestamp: true,
                            limits,
                        },
                        Box::new(stamp),
                    )?;
                    tail.extend_from_slice(&archive.update);
                }
            }
            drop(bytes);
            let mut whole = document.digest();
            whole.update(&tail);
            let mut sha256 = [0u8; 32];
            sha256.copy_from_slice(whole.finish().as_ref());
            Ok((
                pdf::Sealed {
                    update: tail,
                    sha256,
                    visible,
                },
                document,
            ))
        })
        .await
        .map_err(|_| ServiceError::Join)?
        .map_err(|e: pdf::PdfError| ServiceError::from(e))?
    };
    let (stamped, document) = stamped;
    let output_sha256 = hex::encode(stamped.sha256);
    let event = Event::new(EventType::DocumentStamped, now, seal.record.id.as_str())
        .department(seal.record.department_code.as_str())
        .actor(Some(&caller.key_id))
        .data("input_sha256", &input_sha256)
        .data("output_sha256", &output_sha256)
        .data("certificate_serial", &seal.certificate.serial)
        .data("level", level.as_str())
        .data("visible", stamped.visible);
    let indices = ctx
        .store
        .apply(WriteSet::new().event(event.to_new_event()))
        .await?;
    Ok(Stamped {
        original: document,
        update: stamped.update,
        sha256: output_sha256,
        visible: stamped.visible,
        log_index: indices.first().copied().unwrap_or_default(),
    })
}
