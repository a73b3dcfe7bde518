//! What a certificate may be used for (RFC 5280 §4.2.1.3, §4.2.1.12; RFC 3161 §2.3; RFC 6960
//! §4.2.2.2): a document signer, a time-stamping authority or an OCSP responder.

use x509_parser::prelude::{FromDer, X509Certificate};

/// The use a certificate is put to in a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Signs documents: digitalSignature or nonRepudiation, and no EKU that makes it a TSA or
    /// an OCSP responder.
    Signer,
    /// Signs time-stamps: a critical extKeyUsage of exactly id-kp-timeStamping.
    TimeStamping,
    /// Signs OCSP answers for its issuer: id-kp-OCSPSigning.
    OcspSigning,
}

/// Why `der` may not be used for `usage`, or `None` when it may.
pub fn problem(der: &[u8], usage: Usage) -> Option<String> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Some("the certificate cannot be read".into());
    };
    let Ok(eku) = cert.extended_key_usage() else {
        return Some("the certificate's extended key usage cannot be read".into());
    };
    let Ok(ku) = cert.key_usage() else {
        return Some("the certificate's key usage cannot be read".into());
    };
    match usage {
        Usage::Signer => {
            if let Some(ku) = ku {
                if !(ku.value.digital_signature() || ku.value.non_repudiation()) {
                    return Some(
                        "the signer's certificate allows neither digitalSignature nor nonRepudiation"
                            .into(),
                    );
                }
            }
            if let Some(eku) = eku {
                if eku.value.time_stamping || eku.value.ocsp_signing {
                    return Some(
                        "the signer's certificate has the id-kp-timeStamping or id-kp-OCSPSigning extended key usage: it belongs to a TSA or an OCSP responder, not a signer"
                            .into(),
                    );
                }
            }
            None
        }
        Usage::TimeStamping => match eku {
            Some(e)
                if e.critical
                    && e.value.time_stamping
                    && !e.value.any
                    && !e.value.server_auth
                    && !e.value.client_auth
                    && !e.value.code_signing
                    && !e.value.email_protection
                    && !e.value.ocsp_signing
                    && e.value.other.is_empty() =>
            {
                None
            }
            _ => Some(
                "the time-stamping authority's certificate lacks a critical extended key usage of exactly id-kp-timeStamping"
                    .into(),
            ),
        },
        Usage::OcspSigning => match eku {
            Some(e) if e.value.ocsp_signing => None,
            _ => Some("the OCSP responder's certificate lacks id-kp-OCSPSigning".into()),
        },
    }
}
