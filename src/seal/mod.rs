//! Electronic seals (电子印章, ARCHITECTURE.md §5): a department's named, typed seals, each with its
//! own key and certificate under the department CA (digitalSignature + contentCommitment, so
//! that PAdES validators accept it for non-repudiation), and a generated appearance.

pub mod appearance;
pub mod image;
pub mod national;
pub mod ofd;
pub mod pdf;

use ring::rand::{SecureRandom, SystemRandom};

use crate::auth::{Caller, Role};
use crate::context::Context;
use crate::error::ServiceError;
use crate::log::{Event, EventType};
use crate::store::CertKind;
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

/// A new seal's name (trimmed) and validity in days, checked.
fn check_new_seal<'a>(
    name: &'a str,
    kind: &str,
    valid_days: Option<i64>,
) -> Result<(&'a str, i64), ServiceError> {
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
    Ok((name, days))
}

/// Creates a seal for the caller's department (operator).
pub async fn create(
    ctx: &Context,
    caller: &Caller,
    name: &str,
    kind: &str,
    valid_days: Option<i64>,
) -> Result<(Seal, u64), ServiceError> {
    let (name, days) = check_new_seal(name, kind, valid_days)?;
    let department = caller.require_operator()?.to_owned();
    let now = ctx.clock.now();
    let issued = ctx
        .pki
        .issue_department_leaf(
            &department,
            CertKind::Seal,
            name,
            crate::pki::SEAL_KEY_USAGES.to_vec(),
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
        .actor(Some(caller.key_id()))
        .data("name", name)
        .data("kind", kind)
        .data("certificate_serial", &record.certificate_serial);
    let (writes, certificate) = issued.into_writes(now, Some(caller.key_id()), Some(created));
    let national = national::national_writes(
        &ctx.pki,
        ctx.store.as_ref(),
        &record,
        &certificate,
        Some(caller.key_id()),
        now,
    )
    .await?;
    let indices = ctx
        .store
        .apply(
            writes
                .change(Change::InsertSeal(record.clone()))
                .append(national),
        )
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
    if caller.department() != Some(record.department_code.as_str()) {
        return Err(ServiceError::NotFound("seal"));
    }
    with_certificate(ctx, record).await
}

/// The caller's department's seals.
pub async fn list(ctx: &Context, caller: &Caller) -> Result<Vec<Seal>, ServiceError> {
    let department = caller.require_operator()?.to_owned();
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
        .actor(Some(caller.key_id()))
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
                    by: caller.key_id().to_owned(),
                })
                .event(event.to_new_event()),
        )
        .await?;
    Ok(indices.first().copied().unwrap_or_default())
}

/// A seal for an admin's review: any department's (admins approve seal images for all).
async fn for_review(ctx: &Context, caller: &Caller, id: &str) -> Result<SealRecord, ServiceError> {
    match caller.role() {
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
        .actor(Some(caller.key_id()))
        .data("image_sha256", &sha256);
    let indices = ctx
        .store
        .apply(
            WriteSet::new()
                .change(Change::ApproveSealAppearance {
                    seal_id: record.id.clone(),
                    sha256,
                    at: now.unix_timestamp(),
                    by: caller.key_id().to_owned(),
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
    forget_kits(ctx);
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
    // The seal's SM2 certificate (its GB/T 38540 twin) goes with it.
    let mut twins = Vec::new();
    if let Some(esl) = ctx.store.seal_esl(&seal.record.id).await? {
        if let Some(c) = ctx.store.certificate(&esl.certificate_serial).await? {
            twins.push(c);
        }
    }
    let (index, _) = crate::admin::departments::revoke_with_twins(
        ctx,
        caller,
        &seal.certificate,
        &twins,
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

/// What a stamping needs of a seal, all of which changes only with a logged event (a revoked
/// certificate, a renewed CA, a recertified seal, an approved image, a new root or master
/// key): kept in `ctx.seal_kits`, forgotten on those events at once on this instance
/// ([`forget_kits`]) and from the log on the others (`startup::watch_views`).
pub struct StampKit {
    pub seal: Seal,
    /// The seal certificate's own CA and that CA's root (a renewed CA or a new root keeps the
    /// old ones answering for what they certified), and the links to that root from the others.
    pub ca: CertificateRecord,
    pub root: CertificateRecord,
    pub links: Vec<Vec<u8>>,
    pub department_name: String,
    /// The approved image, decoded, or `None` for the generated seal.
    pub image: Option<std::sync::Arc<image::Image>>,
    pub signer: std::sync::Arc<dyn crate::keys::Signer>,
}

/// Forgets every seal's [`StampKit`] on this instance: called after a write that changes what
/// one holds.
pub fn forget_kits(ctx: &Context) {
    ctx.seal_kits.forget_all();
}

/// One of the caller's department's seals, as a stamping needs it (from memory when it can).
/// Another department's seal is not found, as in [`get`].
pub async fn stamp_kit(
    ctx: &Context,
    caller: &Caller,
    id: &str,
) -> Result<std::sync::Arc<StampKit>, ServiceError> {
    caller.require(&[Role::Operator])?;
    let key = id.to_owned();
    let cached = ctx
        .seal_kits
        .get(&key)
        .and_then(|kit| kit.downcast::<StampKit>().ok());
    let kit = match cached {
        Some(kit) => kit,
        None => {
            let epoch = ctx.seal_kits.epoch();
            let kit = std::sync::Arc::new(load_kit(ctx, caller, id).await?);
            ctx.seal_kits.keep(epoch, key, kit.clone());
            kit
        }
    };
    if caller.department() != Some(kit.seal.record.department_code.as_str()) {
        return Err(ServiceError::NotFound("seal"));
    }
    Ok(kit)
}

async fn load_kit(ctx: &Context, caller: &Caller, id: &str) -> Result<StampKit, ServiceError> {
    let seal = get(ctx, caller, id).await?;
    let ca = ctx.pki.issuer_of(&seal.certificate).await?;
    let root = ctx.pki.issuer_of(&ca).await?;
    let links = ctx.pki.links_to(&root).await?;
    let department_name = ctx
        .department(&seal.record.department_code)
        .await?
        .map(|d| d.name.clone())
        .unwrap_or_default();
    // An approved image was checked when it was uploaded.
    let image = ctx
        .store
        .seal_appearance(&seal.record.id)
        .await?
        .and_then(|png| image::decode_png(&png).ok())
        .map(std::sync::Arc::new);
    let signer = ctx.pki.signer(&seal.certificate.key_id).await?;
    Ok(StampKit {
        seal,
        ca,
        root,
        links,
        department_name,
        image,
        signer,
    })
}

/// A seal that may stamp now: not revoked, not expired.
async fn usable_seal(
    ctx: &Context,
    caller: &Caller,
    id: &str,
    now: time::OffsetDateTime,
) -> Result<std::sync::Arc<StampKit>, ServiceError> {
    let kit = stamp_kit(ctx, caller, id).await?;
    if kit.seal.certificate.revoked_at.is_some() {
        return Err(ServiceError::Conflict(
            "the seal is revoked and can no longer stamp".into(),
        ));
    }
    if now.unix_timestamp() >= kit.seal.certificate.not_after {
        return Err(ServiceError::Conflict(
            "the seal's certificate has expired".into(),
        ));
    }
    Ok(kit)
}

/// B-LT and B-LTA: the certificates, CRLs and OCSP answers of the seal's and the TSA's chains,
/// gathered before the CPU work (they need the database).
async fn validation_material(
    ctx: &Context,
    seal: &Seal,
    ca: &CertificateRecord,
    root: &CertificateRecord,
    now: time::OffsetDateTime,
) -> Result<pdf::Validation, ServiceError> {
    let tsa = ctx.tsa.get().certificate().to_vec();
    let mut tsa_root = None;
    for r in ctx.pki.roots().await? {
        if crate::pki::chain::issued_by(&tsa, &r.der) {
            tsa_root = Some(r);
        }
    }
    let tsa_root = tsa_root.ok_or(crate::pki::PkiError::NoRoot)?;
    let mut v = pdf::Validation {
        certs: vec![
            seal.certificate.der.clone(),
            ca.der.clone(),
            root.der.clone(),
            tsa.clone(),
        ],
        ..Default::default()
    };
    let mut pairs: Vec<(Vec<u8>, CertificateRecord)> = vec![
        (seal.certificate.der.clone(), ca.clone()),
        (ca.der.clone(), root.clone()),
        (tsa, tsa_root.clone()),
    ];
    if tsa_root.der != root.der {
        v.certs.push(tsa_root.der);
    }
    // The links that lead from the other roots to this one, revocable by those roots.
    for link in ctx.pki.links_to(root).await? {
        for other in ctx.pki.roots().await? {
            if other.der != root.der && crate::pki::chain::issued_by(&link, &other.der) {
                v.certs.push(link.clone());
                v.certs.push(other.der.clone());
                pairs.push((link.clone(), other));
            }
        }
    }
    let mut issuers: Vec<String> = Vec::new();
    for (_, issuer) in &pairs {
        let name = crate::pki::ca_name(issuer).unwrap_or_default();
        if !issuers.contains(&name) {
            issuers.push(name);
        }
    }
    for issuer in &issuers {
        if let Some(crl) = ctx.pki.current_crl(issuer, now).await? {
            v.crls.push(crl);
        }
    }
    for (cert, issuer) in &pairs {
        v.ocsps
            .push(ctx.pki.ocsp_response_for(cert, &issuer.der, now).await?);
    }
    Ok(v)
}

/// Who signs and how: the seal's key and certificate, the chain it presents, the TSA, the time.
pub struct Signing {
    pub signer: std::sync::Arc<dyn crate::keys::Signer>,
    pub certificate: Vec<u8>,
    /// The department CA and the root.
    pub chain: Vec<Vec<u8>>,
    pub tsa: std::sync::Arc<crate::pki::tsa::Tsa>,
    pub now: time::OffsetDateTime,
}

/// Everything a stamping decides before touching the document.
pub struct StampPlan {
    pub level: Level,
    pub placement: pdf::Placement,
    pub reason: Option<String>,
    pub location: Option<String>,
    /// Unique per signature: a reused field name would read as a change to an earlier one.
    pub field_name: String,
    pub seal_name: String,
    pub department_name: String,
    pub kind: String,
    /// The approved image, decoded, or `None` for the generated seal.
    pub image: Option<std::sync::Arc<image::Image>>,
    pub validation: Option<pdf::Validation>,
    pub limits: crate::pdf::PdfLimits,
}

impl StampPlan {
    /// The writer's request for the approval signature, or (`doc_timestamp`) for the B-LTA
    /// document time-stamp: invisible, no image, reason or location, its own reserve.
    fn request<'a>(
        &'a self,
        signing: &Signing,
        field_name: String,
        doc_timestamp: bool,
        signing_time: &str,
    ) -> pdf::SealRequest<'a> {
        pdf::SealRequest {
            placement: pdf::Placement {
                visible: self.placement.visible && !doc_timestamp,
                ..self.placement.clone()
            },
            field_name,
            seal_name: &self.seal_name,
            department_name: &self.department_name,
            kind: &self.kind,
            image: self.image.as_deref().filter(|_| !doc_timestamp),
            reason: self.reason.as_deref().filter(|_| !doc_timestamp),
            location: self.location.as_deref().filter(|_| !doc_timestamp),
            signing_time: signing_time.to_owned(),
            reserve: if doc_timestamp {
                signing.timestamp_reserve()
            } else {
                signing.reserve(self.level)
            },
            doc_timestamp,
            limits: self.limits,
        }
    }
}

impl Signing {
    /// Room for the CMS: the certificates it carries, the signature and attributes, and (B-T
    /// and up) the time-stamp token with the TSA certificate (RFC 3161), with a margin.
    fn reserve(&self, level: Level) -> usize {
        let mut reserve =
            self.certificate.len() + self.chain.iter().map(Vec::len).sum::<usize>() + 1024;
        if level != Level::Basic {
            reserve += self.timestamp_reserve();
        }
        reserve
    }

    fn timestamp_reserve(&self) -> usize {
        self.tsa.certificate().len() + 1536
    }

    fn signing_time(&self) -> String {
        self.now
            .format(time::macros::format_description!(
                "D:[year][month][day][hour][minute][second]+00'00'"
            ))
            .unwrap_or_default()
    }

    /// The detached CAdES signature over a byte-range digest, with the signature time-stamp
    /// as an unsigned attribute from B-T up.
    fn cms(&self, level: Level, digest: &[u8; 32]) -> Result<Vec<u8>, pdf::PdfError> {
        use crate::pki::cms;
        let failed = |_| pdf::PdfError::Signing;
        let cms_signer = cms::CmsSigner {
            key: self.signer.as_ref(),
            certificate: &self.certificate,
            chain: &self.chain,
        };
        let mut info = cms::signer_info(&cms_signer, cms::ID_DATA, digest).map_err(failed)?;
        if level != Level::Basic {
            let token = self
                .tsa
                .stamp(info.signature.as_bytes(), self.now)
                .map_err(|_| pdf::PdfError::Signing)?;
            let any =
                <der::Any as der::Decode>::from_der(&token).map_err(|_| pdf::PdfError::Signing)?;
            cms::add_unsigned_attribute(&mut info, cms::ID_TIMESTAMP_TOKEN, any).map_err(failed)?;
        }
        cms::assemble(&cms_signer, cms::ID_DATA, None, info).map_err(failed)
    }
}

/// The seal pipeline, from the document's bytes and a plan to the bytes to append: the
/// approval signature, then (B-LT, B-LTA) the DSS update, then (B-LTA) the document
/// time-stamp, each update made over everything before it. `base` is the digest of `bytes`.
pub fn seal_document(
    bytes: std::borrow::Cow<'_, [u8]>,
    base: ring::digest::Context,
    plan: &StampPlan,
    signing: &Signing,
    cancelled: &dyn Fn() -> bool,
) -> Result<pdf::Sealed, pdf::PdfError> {
    let signing_time = signing.signing_time();
    let request = |field_name: String, doc_timestamp: bool| {
        plan.request(signing, field_name, doc_timestamp, &signing_time)
    };
    if cancelled() {
        return Err(pdf::PdfError::Cancelled);
    }
    let level = plan.level;
    let sealed = pdf::seal(
        &bytes,
        base.clone(),
        request(plan.field_name.clone(), false),
        Box::new(|digest: &[u8; 32]| signing.cms(level, digest)),
    )?;
    let visible = sealed.visible;
    let mut tail = sealed.update;
    if let Some(validation) = &plan.validation {
        let mut bytes = bytes.into_owned();
        bytes.reserve_exact(tail.len() + 64 * 1024);
        bytes.extend_from_slice(&tail);
        if cancelled() {
            return Err(pdf::PdfError::Cancelled);
        }
        let dss = pdf::add_dss(&bytes, validation, &plan.limits)?;
        bytes.extend_from_slice(&dss);
        tail.extend_from_slice(&dss);
        if level == Level::LongTermArchive {
            let mut digest = base.clone();
            digest.update(&tail);
            let archive = pdf::seal(
                &bytes,
                digest,
                request(format!("{}-DocTimeStamp", plan.field_name), true),
                Box::new(|d: &[u8; 32]| {
                    signing
                        .tsa
                        .stamp_digest(d, signing.now)
                        .map_err(|_| pdf::PdfError::Signing)
                }),
            )?;
            tail.extend_from_slice(&archive.update);
        }
    }
    let mut whole = base;
    whole.update(&tail);
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(whole.finish().as_ref());
    Ok(pdf::Sealed {
        update: tail,
        sha256,
        visible,
    })
}

/// A large upload (on disk) at B-B or B-T, sealed from its skeleton in memory that does not
/// grow with its size ([`crate::pdf::sparse`]); `None` when it is to be read whole: a small
/// upload, B-LT and up (their DSS update reads the sealed file), or a file the sparse reader
/// leaves to the full one (which then gives its answer, a refusal included).
fn seal_sparse(
    document: &mut crate::upload::Upload,
    plan: &StampPlan,
    signing: &Signing,
    cancelled: &dyn Fn() -> bool,
) -> Option<Result<pdf::Sealed, pdf::PdfError>> {
    use std::os::unix::fs::FileExt;
    if plan.validation.is_some() {
        return None;
    }
    let len = usize::try_from(document.len()).ok()?;
    let digest = document.digest();
    let file = document.file()?;
    let skeleton = crate::pdf::sparse::skeleton(file, len, &plan.limits)?;
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, u64::try_from(len.checked_sub(1)?).ok()?)
        .ok()?;
    if cancelled() {
        return Some(Err(pdf::PdfError::Cancelled));
    }
    let original = pdf::Original::Sparse {
        skeleton: &skeleton,
        len,
        ends_with_newline: last == *b"\n",
    };
    let signing_time = signing.signing_time();
    let level = plan.level;
    match pdf::seal_original(
        original,
        digest,
        plan.request(signing, plan.field_name.clone(), false, &signing_time),
        Box::new(|d: &[u8; 32]| signing.cms(level, d)),
    ) {
        Ok(sealed) => Some(Ok(sealed)),
        Err(e @ (pdf::PdfError::Signing | pdf::PdfError::Cancelled)) => Some(Err(e)),
        Err(_) => None,
    }
}

/// Everything the stamping decides before the document is read: the level's validation
/// material, the approved image, a unique field name.
async fn plan(
    ctx: &Context,
    kit: &StampKit,
    options: StampOptions,
    now: time::OffsetDateTime,
) -> Result<StampPlan, ServiceError> {
    let seal = &kit.seal;
    let validation = match options.level {
        Level::LongTerm | Level::LongTermArchive => {
            Some(validation_material(ctx, seal, &kit.ca, &kit.root, now).await?)
        }
        Level::Basic | Level::Timestamped => None,
    };
    Ok(StampPlan {
        level: options.level,
        placement: options.placement,
        reason: options.reason,
        location: options.location,
        // Unique per signature, even for two in the same second.
        field_name: format!(
            "Seal-{}-{}-{}",
            seal.record.id,
            now.unix_timestamp(),
            &new_id()?[5..13]
        ),
        seal_name: seal.record.name.clone(),
        department_name: kit.department_name.clone(),
        kind: seal.record.kind.clone(),
        image: kit.image.clone(),
        validation,
        limits: ctx.pdf_limits,
    })
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
    let now = ctx.clock.now();
    let kit = usable_seal(ctx, caller, id, now).await?;
    let plan = plan(ctx, &kit, options, now).await?;
    let level = plan.level;
    let mut chain = vec![kit.ca.der.clone(), kit.root.der.clone()];
    chain.extend(kit.links.iter().cloned());
    let seal = &kit.seal;
    let signing = Signing {
        signer: kit.signer.clone(),
        certificate: seal.certificate.der.clone(),
        chain,
        tsa: ctx.tsa.get(),
        now,
    };
    let input_sha256 = hex::encode(document.digest().finish());
    // Parsing and signing are CPU work: off the async threads.
    let (stamped, document) = tokio::task::spawn_blocking(move || {
        let cancelled = || ticket.cancelled();
        if let Some(sealed) = seal_sparse(&mut document, &plan, &signing, &cancelled) {
            return Ok((sealed?, document));
        }
        let digest = document.digest();
        let bytes = document
            .contents()
            .map_err(|_| pdf::PdfError::Malformed("the upload could not be read back".into()))?;
        let sealed = seal_document(bytes, digest, &plan, &signing, &cancelled)?;
        Ok::<_, pdf::PdfError>((sealed, document))
    })
    .await
    .map_err(|_| ServiceError::Join)?
    .map_err(ServiceError::from)?;
    let output_sha256 = hex::encode(stamped.sha256);
    let event = Event::new(EventType::DocumentStamped, now, seal.record.id.as_str())
        .department(seal.record.department_code.as_str())
        .actor(Some(caller.key_id()))
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
