//! Licence tokens: compact JWS (RFC 7515) with ES256 (RFC 7518 §3.4: the signature is R ‖ S,
//! 64 bytes, not DER). The header carries `kid`, `typ` = `licence+jwt` and `x5c` (the signer's
//! certificate and its department CA, standard base64 DER per RFC 7515 §4.1.6), so any JOSE
//! library can verify the token offline with the root certificate.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use der::asn1::UintRef;
use der::{Decode, Sequence};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde_json::Value;
use x509_parser::prelude::FromDer;

use crate::keys::Signer;
use crate::pki::PkiError;

pub const TOKEN_TYPE: &str = "licence+jwt";
/// Largest token accepted for verification.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// ECDSA-Sig-Value (RFC 3279 §2.2.3).
#[derive(Sequence)]
struct EcdsaSig<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// DER ECDSA signature → fixed-width R ‖ S for P-256.
fn der_to_fixed(der: &[u8]) -> Option<[u8; 64]> {
    let sig = EcdsaSig::from_der(der).ok()?;
    let (r, s) = (sig.r.as_bytes(), sig.s.as_bytes());
    if r.len() > 32 || s.len() > 32 {
        return None;
    }
    let mut out = [0u8; 64];
    out[32 - r.len()..32].copy_from_slice(r);
    out[64 - s.len()..].copy_from_slice(s);
    Some(out)
}

/// The protected header of a token of type `typ`, base64url-encoded (the part before the
/// first dot): the same for every token of one signer, so it can be computed once.
pub fn encoded_header(typ: &str, kid: &str, x5c: &[&[u8]]) -> Result<String, PkiError> {
    let header = serde_json::json!({
        "alg": "ES256",
        "typ": typ,
        "kid": kid,
        "x5c": x5c.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
    });
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|_| PkiError::Signing)?))
}

/// Signs `payload` as a compact JWS under `header`, an [`encoded_header`].
pub fn sign_encoded(
    signer: &dyn Signer,
    header: &str,
    payload: &Value,
) -> Result<String, PkiError> {
    let body = serde_json::to_vec(payload).map_err(|_| PkiError::Signing)?;
    let mut token = String::with_capacity(header.len() + body.len() * 4 / 3 + 92);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&body, &mut token);
    let der = signer.sign(token.as_bytes())?;
    let fixed = der_to_fixed(&der).ok_or(PkiError::Signing)?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(fixed, &mut token);
    Ok(token)
}

/// Why a string is not a licence token at all (a 400, unlike a failed signature).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("a token is three base64url parts separated by dots")]
    Shape,
    #[error("the token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("the token header is not a JSON object")]
    Header,
    #[error("the token payload is not a JSON object")]
    Payload,
    #[error("the token header has no x5c certificate chain")]
    NoChain,
}

/// A token taken apart (nothing verified yet).
#[derive(Debug, Clone)]
pub struct DecodedToken {
    pub header: Value,
    pub payload: Value,
    /// DER certificates of `x5c`, signer first.
    pub chain: Vec<Vec<u8>>,
    signing_input: String,
    signature: Vec<u8>,
}

pub fn decode(token: &str) -> Result<DecodedToken, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Shape);
    };
    let b64 = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Shape);
    let header: Value = serde_json::from_slice(&b64(h)?).map_err(|_| TokenError::Header)?;
    let payload: Value = serde_json::from_slice(&b64(p)?).map_err(|_| TokenError::Payload)?;
    if !header.is_object() {
        return Err(TokenError::Header);
    }
    if !payload.is_object() {
        return Err(TokenError::Payload);
    }
    let chain = header["x5c"]
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= 8)
        .ok_or(TokenError::NoChain)?
        .iter()
        .map(|c| {
            c.as_str()
                .and_then(|s| STANDARD.decode(s).ok())
                .ok_or(TokenError::NoChain)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DecodedToken {
        header,
        payload,
        chain,
        signing_input: format!("{h}.{p}"),
        signature: b64(s)?,
    })
}

impl DecodedToken {
    /// Whether the signature verifies with the key of `x5c[0]` under ES256.
    pub fn signature_valid(&self) -> bool {
        if self.header["alg"] != "ES256" {
            return false;
        }
        let Some(leaf) = self.chain.first() else {
            return false;
        };
        let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(leaf) else {
            return false;
        };
        let point = cert.public_key().subject_public_key.data.as_ref();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(self.signing_input.as_bytes(), &self.signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyAlgorithm, SoftwareKey};

    #[test]
    fn fixed_signatures_are_64_bytes() {
        let (key, _) = SoftwareKey::generate(KeyAlgorithm::EcdsaP256Sha256).unwrap();
        for i in 0..50u8 {
            let der = key.sign(&[i]).unwrap();
            let fixed = der_to_fixed(&der).unwrap();
            let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key());
            public.verify(&[i], &fixed).unwrap();
        }
        assert!(der_to_fixed(b"\x30\x00").is_none());
        assert!(der_to_fixed(b"nonsense").is_none());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            "e30.e30.AA",
            "W10.e30.AA",
            "e30.W10.AA",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        assert_eq!(
            decode(&"a".repeat(MAX_TOKEN_BYTES + 1)).unwrap_err(),
            TokenError::TooLarge
        );
    }
}
