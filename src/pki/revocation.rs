//! Revocation (RFC 5280 §5): reasons, and the CRL of each CA (`root` or a department code) at
//! `GET /crl/{ca}.crl`. A CRL is stored with its number; the newest one is served until it is
//! stale (a revocation since, or less than an hour before its nextUpdate), then a new one is
//! signed. Two instances racing to sign the same number both read back the one that won.

use time::OffsetDateTime;

use super::{Pki, PkiError};
use crate::keys::RcgenKey;
use crate::store::CertKind;
use crate::store::{CertificateRecord, Change, CrlRecord, StoreError, WriteSet};

/// How far ahead a CRL's nextUpdate is (RFC 5280 §5.1.2.5; at most 24 h here).
pub const CRL_LIFETIME: time::Duration = time::Duration::hours(24);
/// A CRL this close to its nextUpdate is replaced.
const CRL_REFRESH_AHEAD: time::Duration = time::Duration::hours(1);

/// RFC 5280 reason names (CRLReason, §5.3.1) accepted when revoking, with their codes.
pub const REASONS: &[(&str, rcgen::RevocationReason)] = &[
    ("unspecified", rcgen::RevocationReason::Unspecified),
    ("keyCompromise", rcgen::RevocationReason::KeyCompromise),
    ("cACompromise", rcgen::RevocationReason::CaCompromise),
    (
        "affiliationChanged",
        rcgen::RevocationReason::AffiliationChanged,
    ),
    ("superseded", rcgen::RevocationReason::Superseded),
    (
        "cessationOfOperation",
        rcgen::RevocationReason::CessationOfOperation,
    ),
    (
        "privilegeWithdrawn",
        rcgen::RevocationReason::PrivilegeWithdrawn,
    ),
];

pub fn reason(name: &str) -> Option<rcgen::RevocationReason> {
    REASONS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// The CRLReason code of a stored reason name (0 = unspecified).
pub fn reason_code(name: Option<&str>) -> u8 {
    name.and_then(reason).map_or(0, |r| r as u8)
}

fn time_of(unix: i64) -> Result<OffsetDateTime, PkiError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| PkiError::BadCertificate)
}

/// The subject key identifier of a certificate (for the CRL's authority key identifier).
fn subject_key_id(der: &[u8]) -> Result<Vec<u8>, PkiError> {
    use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| PkiError::BadCertificate)?;
    let ski = cert
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        });
    ski.ok_or(PkiError::BadCertificate)
}

impl Pki {
    /// The certificate of a CA by its name (see [`super::ca_name`]): `root`, `root-sm2`, a
    /// department code, `{code}-sm2`, or one of those followed by `.{generation}`.
    pub async fn ca(&self, ca: &str) -> Result<Option<CertificateRecord>, PkiError> {
        if super::ca_first_name(ca) == "root" {
            let roots = self.roots().await?;
            return Ok(roots
                .into_iter()
                .find(|c| super::ca_name(c).as_deref() == Some(ca)));
        }
        if ca == super::sm2::ROOT_SM2 {
            return Ok(Some(self.sm2_root().await?));
        }
        let first = super::ca_first_name(ca);
        let (kind, code) = match super::sm2::department_of(first) {
            Some(code) => (CertKind::Sm2DepartmentCa, code),
            None => (CertKind::DepartmentCa, first),
        };
        let cas = self.store.certificates_of_kind(kind, Some(code)).await?;
        Ok(cas
            .into_iter()
            .find(|c| super::ca_name(c).as_deref() == Some(ca)))
    }

    /// Signs a CRL of `ca_cert` listing `revoked`.
    pub async fn sign_crl(
        &self,
        ca_cert: &CertificateRecord,
        number: i64,
        revoked: &[CertificateRecord],
        this_update: OffsetDateTime,
    ) -> Result<Vec<u8>, PkiError> {
        if matches!(
            ca_cert.kind,
            CertKind::Sm2RootCa | CertKind::Sm2DepartmentCa
        ) {
            let next_update = this_update + CRL_LIFETIME;
            return self
                .sign_sm2_crl(ca_cert, number, revoked, this_update, next_update)
                .await;
        }
        let signer = self.signer(&ca_cert.key_id).await?;
        let mut revoked_certs = Vec::with_capacity(revoked.len());
        for c in revoked {
            revoked_certs.push(rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(
                    &hex::decode(&c.serial).map_err(|_| PkiError::BadCertificate)?,
                ),
                revocation_time: time_of(c.revoked_at.unwrap_or_default())?,
                reason_code: c.revocation_reason.as_deref().and_then(reason),
                invalidity_date: c.invalidity_date.map(time_of).transpose()?,
            });
        }
        let params = rcgen::CertificateRevocationListParams {
            this_update,
            next_update: this_update + CRL_LIFETIME,
            crl_number: rcgen::SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::PreSpecified(subject_key_id(&ca_cert.der)?),
        };
        let issuer =
            rcgen::Issuer::from_ca_cert_der(&ca_cert.der.as_slice().into(), RcgenKey(signer))?;
        Ok(params.signed_by(&issuer)?.der().to_vec())
    }

    /// Signs and stores a CRL of `ca` numbered above `floor` and above every stored one: after
    /// a restore, CRL numbers must not go back below the last published. Returns its number,
    /// `None` for an unknown CA.
    pub async fn crl_above(
        &self,
        ca: &str,
        floor: i64,
        now: OffsetDateTime,
    ) -> Result<Option<i64>, PkiError> {
        let Some(ca_cert) = self.ca(ca).await? else {
            return Ok(None);
        };
        let revoked = self.store.revoked_certificates(ca).await?;
        let latest = self.store.latest_crl(ca).await?;
        let number = latest.map_or(1, |c| c.number + 1).max(floor + 1);
        let der = self.sign_crl(&ca_cert, number, &revoked, now).await?;
        let record = CrlRecord {
            ca: ca.to_owned(),
            number,
            der,
            this_update: now.unix_timestamp(),
            next_update: (now + CRL_LIFETIME).unix_timestamp(),
            revoked_count: revoked.len() as i64,
        };
        self.store
            .apply(WriteSet::new().change(Change::InsertCrl(record)))
            .await?;
        Ok(Some(number))
    }

    /// The CA's current CRL (DER), signing a new one when the stored one is stale. `None` for
    /// an unknown CA.
    pub async fn current_crl(
        &self,
        ca: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, PkiError> {
        let Some(ca_cert) = self.ca(ca).await? else {
            return Ok(None);
        };
        let revoked = self.store.revoked_certificates(ca).await?;
        let latest = self.store.latest_crl(ca).await?;
        if let Some(crl) = &latest {
            let fresh = crl.revoked_count == revoked.len() as i64
                && now.unix_timestamp() < crl.next_update - CRL_REFRESH_AHEAD.whole_seconds();
            if fresh {
                return Ok(Some(crl.der.clone()));
            }
        }
        let number = latest.as_ref().map_or(1, |c| c.number + 1);
        let der = self.sign_crl(&ca_cert, number, &revoked, now).await?;
        let record = CrlRecord {
            ca: ca.to_owned(),
            number,
            der: der.clone(),
            this_update: now.unix_timestamp(),
            next_update: (now + CRL_LIFETIME).unix_timestamp(),
            revoked_count: revoked.len() as i64,
        };
        match self
            .store
            .apply(WriteSet::new().change(Change::InsertCrl(record)))
            .await
        {
            Ok(_) => Ok(Some(der)),
            // Another instance signed this number first: serve its CRL.
            Err(StoreError::Conflict(_)) => Ok(self.store.latest_crl(ca).await?.map(|c| c.der)),
            Err(e) => Err(e.into()),
        }
    }
}
