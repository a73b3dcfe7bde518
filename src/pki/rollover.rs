//! A new generation of the root (`trustd root renew`, the key ceremony of docs/OPERATIONS.md):
//! a new self-signed root, named `root.{n}`, and two link certificates (RFC 4210 §4.4):
//! "new with old", the new root's subject and key certified by the old root, so that relying
//! parties that trust only the old root reach what the new one certifies; and "old with new",
//! the old root's subject and key certified by the new root, for relying parties that move to
//! the new root while documents under the old one are still in use. The links last until the
//! old root's end. From then on department CAs and the TSA are issued under the new root; the
//! old root keeps signing its CRL and answering OCSP for what it certified.

use time::OffsetDateTime;

use super::{
    ca_generation_name, ca_name, certs, keys, next_generation, validity_of, Pki, PkiError,
    META_ROOT_SERIAL,
};
use crate::keys::RcgenKey;
use crate::log::{Event, EventType};
use crate::store::{CertKind, CertificateRecord, Change, WriteSet};

impl Pki {
    /// The next root generation and its two links, as one write (the meta row naming the
    /// current root moves to it). Returns the write and the new root.
    pub async fn renew_root(
        &self,
        now: OffsetDateTime,
    ) -> Result<(WriteSet, CertificateRecord), PkiError> {
        let old = self.root().await?;
        let generation = next_generation(&self.roots().await?);
        let common_name = format!("{} G{generation}", first_common_name(&old.subject));
        let mut new = self.build_root(&common_name, now)?;
        new.certificate.ca_name = Some(ca_generation_name("root", generation));
        let until = OffsetDateTime::from_unix_timestamp(old.not_after)
            .map_err(|_| PkiError::BadCertificate)?;
        let validity = certs::Validity {
            not_before: now,
            not_after: until,
        };
        let new_with_old = self
            .link(&old, &new.certificate, &common_name, validity)
            .await?;
        let old_with_new = self
            .link(&new.certificate, &old, &old.subject, validity)
            .await?;
        let root = new.certificate.clone();
        let created = Event::new(EventType::RootCreated, now, root.serial.as_str())
            .data("previous_root_serial", &old.serial)
            .data("name", ca_name(&root).unwrap_or_default())
            .data("links", [&new_with_old.serial, &old_with_new.serial]);
        let (mut writes, _) = new.into_writes(now, None, Some(created));
        for link in [new_with_old, old_with_new] {
            let event = super::certificate_event(&link, now);
            writes = writes
                .change(Change::InsertCertificate(link))
                .event(event.to_new_event());
        }
        let writes = writes.change(Change::SetMeta {
            key: META_ROOT_SERIAL.into(),
            value: root.serial.clone().into_bytes(),
        });
        Ok((writes, root))
    }

    /// A link: `subject`'s name and key (a root's) certified by the root `issuer`.
    async fn link(
        &self,
        issuer: &CertificateRecord,
        subject: &CertificateRecord,
        common_name: &str,
        validity: certs::Validity,
    ) -> Result<CertificateRecord, PkiError> {
        let issuer_name = ca_name(issuer).ok_or(PkiError::NoRoot)?;
        let urls = certs::RevocationUrls::for_ca(&self.public_url, &issuer_name);
        let serial = certs::random_serial()?;
        let params = certs::root_link_params(common_name, &serial, validity, &urls)?;
        let signer = self.signer(&subject.key_id).await?;
        let public = keys::PublicKeyOnly {
            algorithm: signer.algorithm(),
            raw: signer.public_key().to_vec(),
        };
        let issuer_signer = self.signer(&issuer.key_id).await?;
        let rcgen_issuer = rcgen::Issuer::from_ca_cert_der(
            &issuer.der.as_slice().into(),
            RcgenKey(issuer_signer),
        )?;
        let der = params.signed_by(&public, &rcgen_issuer)?.der().to_vec();
        let (not_before, not_after) = validity_of(&der)?;
        Ok(CertificateRecord {
            serial: hex::encode(&serial),
            issuer: issuer_name,
            kind: CertKind::RootLink,
            subject: common_name.to_owned(),
            department_code: None,
            key_id: subject.key_id.clone(),
            der,
            not_before,
            not_after,
            revoked_at: None,
            revocation_reason: None,
            invalidity_date: None,
            ca_name: None,
            created_at: validity.not_before.unix_timestamp(),
        })
    }
}

/// The common name of a root without its generation suffix (`X G2` → `X`).
fn first_common_name(name: &str) -> &str {
    match name.rsplit_once(" G") {
        Some((base, n)) if n.parse::<u32>().is_ok() => base,
        _ => name,
    }
}
