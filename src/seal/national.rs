//! A seal's national twin (issue 15, ARCHITECTURE.md §11): an SM2 key and certificate under the
//! department's SM2 CA, and the GB/T 38540 seal (`SESeal` v4) that carries it. The seal maker
//! (制章者) is the department's SM2 CA itself: its certificate is the SESeal's `cert` and its key
//! signs the seal information, so a relying party checks the maker with the same chain as the
//! signer. Made with the seal, and at start for seals that predate this.

use crate::context::Context;
use crate::error::ServiceError;
use crate::log::{Event, EventType};
use crate::ofd::{ses, OfdError};
use crate::pki::oid;
use crate::pki::Pki;
use crate::store::{
    CertKind, CertificateRecord, Change, Repository, SealEslRecord, SealRecord, WriteSet,
};

/// The printed size of trustd's seal picture, in millimetres (a round official seal is 40 to
/// 42 mm across).
pub const PICTURE_MM: i64 = 40;
/// The seal maker's identifier in the SESeal header (`vid`).
pub const VENDOR_ID: &str = "trustd";

/// The seal's picture: the approved image if the department has one, else a drawn red seal
/// (ring and star; the text of the PDF appearance needs a font rasteriser, which trustd does
/// not have).
pub async fn picture(store: &dyn Repository, seal_id: &str) -> Result<Vec<u8>, ServiceError> {
    match store.seal_appearance(seal_id).await? {
        Some(png) => Ok(png),
        None => Ok(drawn_seal(400)),
    }
}

/// A red round seal with a star, `size` pixels square, transparent outside, as PNG.
pub fn drawn_seal(size: u32) -> Vec<u8> {
    let s = f64::from(size);
    let (cx, cy) = (s / 2.0, s / 2.0);
    let outer = s * 0.48;
    let ring = s * 0.045;
    let star = super::appearance::star_points(cx, cy, s * 0.2);
    let mut rgba = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let (px, py) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
            let d = ((px - cx).powi(2) + (py - cy).powi(2)).sqrt();
            let inked = (d <= outer && d >= outer - ring) || inside(&star, px, py);
            rgba.extend_from_slice(if inked {
                &[0xd0, 0x10, 0x1b, 0xff]
            } else {
                &[0, 0, 0, 0]
            });
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, size, size);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        // Writing into a Vec cannot fail.
        if let Ok(mut w) = encoder.write_header() {
            let _ = w.write_image_data(&rgba);
        }
    }
    out
}

/// Even-odd point-in-polygon.
fn inside(polygon: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut inside = false;
    let mut j = polygon.len().saturating_sub(1);
    for (i, &(xi, yi)) in polygon.iter().enumerate() {
        let (xj, yj) = polygon[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// The writes that give `seal` its SM2 certificate (valid as long as the seal's P-256
/// certificate) and its SESeal signed by the department's SM2 CA, logged as
/// `certificate.issued` and `seal.esl_issued`.
pub async fn national_writes(
    pki: &Pki,
    store: &dyn Repository,
    seal: &SealRecord,
    seal_certificate: &CertificateRecord,
    actor: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<WriteSet, ServiceError> {
    let days = ((seal_certificate.not_after - now.unix_timestamp()) / 86_400).max(1);
    let issued = pki
        .issue_sm2_leaf(
            &seal.department_code,
            CertKind::Sm2Seal,
            &seal.name,
            days,
            now,
        )
        .await?;
    let maker = pki.department_sm2_ca(&seal.department_code).await?;
    let maker_key = pki.signer(&maker.key_id).await?;
    let content = ses::SealContent {
        es_id: seal.id.clone(),
        vid: VENDOR_ID.into(),
        kind: 1,
        name: seal.name.clone(),
        certs: vec![issued.certificate.der.clone()],
        created: now.unix_timestamp(),
        valid_start: issued.certificate.not_before,
        valid_end: issued.certificate.not_after,
        png: picture(store, &seal.id).await?,
        width_mm: PICTURE_MM,
        height_mm: PICTURE_MM,
    };
    let esl = ses_seal(&content, &maker.der, maker_key.as_ref())?;
    let record = SealEslRecord {
        seal_id: seal.id.clone(),
        certificate_serial: issued.certificate.serial.clone(),
        esl,
        created_at: now.unix_timestamp(),
    };
    let event = Event::new(EventType::SealEslIssued, now, seal.id.as_str())
        .department(seal.department_code.as_str())
        .actor(actor)
        .data("certificate_serial", &record.certificate_serial)
        .data("maker_serial", &maker.serial)
        .data(
            "esl_sha256",
            hex::encode(crate::pki::cms::sha256(&record.esl)),
        );
    let (writes, _) = issued.into_writes(now, actor, None);
    Ok(writes
        .change(Change::InsertSealEsl(record))
        .event(event.to_new_event()))
}

/// A signed SESeal: the information's DER signed by the maker's SM2 key.
pub fn ses_seal(
    content: &ses::SealContent,
    maker_certificate: &[u8],
    maker: &dyn crate::keys::Signer,
) -> Result<Vec<u8>, ServiceError> {
    // Our own values always encode; a failure here is a bug, answered as a signing failure.
    let encode = |e: ses::SesError| {
        tracing::error!(error = %e, "SESeal encoding failed");
        ServiceError::Pki(crate::pki::PkiError::Signing)
    };
    let info = ses::seal_info_der(content).map_err(encode)?;
    let signature = maker.sign(&info).map_err(crate::pki::PkiError::from)?;
    ses::seal_der(&info, maker_certificate, oid::SM2_WITH_SM3, &signature).map_err(encode)
}

/// Applies a write set made at start, where another instance may have made the same thing
/// at the same moment (a conflict is its success, not an error).
async fn apply_once(store: &dyn Repository, writes: WriteSet) -> Result<(), ServiceError> {
    match store.apply(writes).await {
        Ok(_) | Err(crate::store::StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// At every start: the SM2 root, an SM2 CA for every department that has none, and the
/// national twin of every usable seal that has none, so that installations from before
/// issue 15 gain them (keys cannot be made by a SQL migration). Each is logged.
pub async fn ensure_hierarchy(
    pki: &Pki,
    store: &dyn Repository,
    root_name: &str,
    now: time::OffsetDateTime,
) -> Result<(), ServiceError> {
    use crate::pki::sm2::META_SM2_ROOT_SERIAL;
    if store.meta(META_SM2_ROOT_SERIAL).await?.is_none() {
        let root = pki.build_sm2_root(&format!("{root_name} SM2"), now)?;
        let serial = root.certificate.serial.clone().into_bytes();
        let (writes, cert) = root.into_writes(now, None, None);
        apply_once(
            store,
            writes.change(Change::InsertMeta {
                key: META_SM2_ROOT_SERIAL.into(),
                value: serial,
            }),
        )
        .await?;
        tracing::info!(serial = %cert.serial, "created the SM2 root CA");
    }
    let mut after: Option<String> = None;
    loop {
        let page = store.departments(after.as_deref(), 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.code.clone());
        for d in &page {
            if store
                .certificates_of_kind(CertKind::Sm2DepartmentCa, Some(&d.code))
                .await?
                .is_empty()
            {
                let (writes, cert) = pki
                    .issue_sm2_department_ca(&d.code, &d.name, 1, now)
                    .await?
                    .into_writes(now, None, None);
                apply_once(store, writes).await?;
                tracing::info!(department = %d.code, serial = %cert.serial, "issued the department's SM2 CA");
            }
        }
    }
    for seal in store.all_seals().await? {
        if store.seal_esl(&seal.id).await?.is_some() {
            continue;
        }
        let Some(cert) = store.certificate(&seal.certificate_serial).await? else {
            continue;
        };
        if cert.revoked_at.is_some() || cert.not_after <= now.unix_timestamp() {
            continue;
        }
        match national_writes(pki, store, &seal, &cert, None, now).await {
            Ok(writes) => apply_once(store, writes).await?,
            // A department whose SM2 CA is revoked makes no new seals.
            Err(ServiceError::Pki(crate::pki::PkiError::CaRevoked)) => continue,
            Err(e) => return Err(e),
        }
        tracing::info!(seal = %seal.id, "made the seal's SM2 certificate and GB/T 38540 seal");
    }
    Ok(())
}

/// The seal's SESeal (`GET /api/v1/seals/{id}/esl`): the caller's department's seals only.
pub async fn esl(
    ctx: &Context,
    caller: &crate::auth::Caller,
    id: &str,
) -> Result<Vec<u8>, ServiceError> {
    let seal = super::get(ctx, caller, id).await?;
    ctx.store
        .seal_esl(&seal.record.id)
        .await?
        .map(|r| r.esl)
        .ok_or(ServiceError::NotFound("seal's GB/T 38540 seal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drawn_seal_is_a_png_with_red_ink_and_a_transparent_corner() {
        let png = drawn_seal(100);
        let image = super::super::image::decode_png(&png).unwrap();
        assert_eq!((image.width, image.height), (100, 100));
    }
}

/// A sealed OFD and what the log recorded.
#[derive(Debug)]
pub struct StampedOfd {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub log_index: u64,
}

impl From<super::ofd::SealOfdError> for ServiceError {
    fn from(e: super::ofd::SealOfdError) -> ServiceError {
        match e {
            super::ofd::SealOfdError::Document(d) => d.into(),
            super::ofd::SealOfdError::Page(detail) => ServiceError::invalid("page", detail),
            super::ofd::SealOfdError::Signing => ServiceError::Pki(crate::pki::PkiError::Signing),
        }
    }
}

/// Seals an OFD with one of the caller's department's seals: its SM2 key and certificate,
/// its SESeal, the SM2 TSA. Logged like a PDF stamping (`document.stamped`, format `ofd`).
pub async fn stamp_ofd(
    ctx: &Context,
    caller: &crate::auth::Caller,
    id: &str,
    mut document: crate::upload::Upload,
    placement: super::ofd::OfdPlacement,
) -> Result<StampedOfd, ServiceError> {
    let now = ctx.clock.now();
    let kit = super::usable_seal(ctx, caller, id, now).await?;
    let seal = &kit.seal;
    let esl = ctx
        .store
        .seal_esl(&seal.record.id)
        .await?
        .ok_or(ServiceError::NotFound("seal's GB/T 38540 seal"))?;
    let certificate = ctx
        .store
        .certificate(&esl.certificate_serial)
        .await?
        .ok_or_else(|| {
            crate::store::StoreError::Corrupt("an SESeal without its certificate".into())
        })?;
    if certificate.revoked_at.is_some() || now.unix_timestamp() >= certificate.not_after {
        return Err(ServiceError::Conflict(
            "the seal's SM2 certificate is revoked or expired".into(),
        ));
    }
    let key = ctx.pki.signer(&certificate.key_id).await?;
    let tsa = ctx.tsa_sm2.get();
    let limits = ctx.ofd_limits;
    let input_sha256 = hex::encode(document.digest().finish());
    let cert_der = certificate.der.clone();
    let sealed = tokio::task::spawn_blocking(move || {
        let bytes = document
            .contents()
            .map_err(|_| OfdError::Malformed("the upload could not be read back".into()))?;
        let package = crate::ofd::Package::read(&bytes, &limits)?;
        let signing = super::ofd::OfdSigning {
            key: key.as_ref(),
            certificate: &cert_der,
            esl: &esl.esl,
            tsa: tsa.as_ref(),
            now,
        };
        super::ofd::seal_ofd(package, placement, &signing)
    })
    .await
    .map_err(|_| ServiceError::Join)??;
    let sha256 = hex::encode(crate::pki::cms::sha256(&sealed.bytes));
    let event = Event::new(EventType::DocumentStamped, now, seal.record.id.as_str())
        .department(seal.record.department_code.as_str())
        .actor(Some(caller.key_id()))
        .data("format", "ofd")
        .data("input_sha256", &input_sha256)
        .data("output_sha256", &sha256)
        .data("certificate_serial", &certificate.serial)
        .data("signature", &sealed.signature_path);
    let indices = ctx
        .store
        .apply(WriteSet::new().event(event.to_new_event()))
        .await?;
    Ok(StampedOfd {
        bytes: sealed.bytes,
        sha256,
        log_index: indices.first().copied().unwrap_or_default(),
    })
}
