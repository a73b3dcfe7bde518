//! Every object identifier trustd writes or checks, once (as `der` values; the arcs rcgen takes
//! for custom extensions are beside them).

use der::asn1::ObjectIdentifier as Oid;

// Digests.
pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

// Signatures.
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");

// National algorithms (GB/T 33560, GM/T 0006): SM3, SM2 with SM3, the sm2p256v1 curve.
pub const SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.401");
pub const SM2_WITH_SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.501");
/// The curve; real seals also write it (or `1.2.156.10197.1.301.1`, sm2sign) as the signature
/// algorithm.
pub const SM2_CURVE: Oid = Oid::new_unwrap("1.2.156.10197.1.301");
pub const SM2_SIGN: Oid = Oid::new_unwrap("1.2.156.10197.1.301.1");
/// id-ecPublicKey (RFC 5480), the key algorithm of SM2 certificates (GB/T 20518 §5.2.2.6).
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
pub const OCSP_NOCHECK: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.5");
/// Attribute types of the names trustd writes (X.520).
pub const AT_COUNTRY: Oid = Oid::new_unwrap("2.5.4.6");
pub const AT_ORGANIZATION: Oid = Oid::new_unwrap("2.5.4.10");
pub const AT_COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
pub const AT_ORGANIZATION_IDENTIFIER: Oid = Oid::new_unwrap("2.5.4.97");

// CMS (RFC 5652), ESS (RFC 2634, 5035), RFC 3161.
pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
pub const CT_TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
pub const SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
pub const SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
pub const TIMESTAMP_TOKEN: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// ETSI EN 319 421's best-practices time-stamp policy.
pub const TSA_POLICY: Oid = Oid::new_unwrap("0.4.0.2023.1.1");

// PKIX (RFC 5280, RFC 6960).
pub const AD_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");
pub const OCSP_NONCE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.2");
pub const KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
pub const KP_OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");

/// Arcs for rcgen's custom extensions and attributes.
pub mod arcs {
    /// organizationIdentifier (X.520, 2.5.4.97): the department's unified social credit code.
    pub const ORGANIZATION_IDENTIFIER: &[u64] = &[2, 5, 4, 97];
    /// id-pe-authorityInfoAccess (RFC 5280 §4.2.2.1).
    pub const AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
    /// id-ce-extKeyUsage (RFC 5280 §4.2.1.12).
    pub const EXTENDED_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arcs_and_oids_agree() {
        let dotted = |arcs: &[u64]| {
            arcs.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".")
        };
        assert_eq!(dotted(arcs::ORGANIZATION_IDENTIFIER), "2.5.4.97");
        assert_eq!(
            AD_OCSP.to_string(),
            format!("{}.48.1", dotted(&arcs::AUTHORITY_INFO_ACCESS[..7]))
        );
        assert_eq!(dotted(arcs::EXTENDED_KEY_USAGE), "2.5.29.37");
    }
}
