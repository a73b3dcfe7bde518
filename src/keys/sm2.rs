//! SM2 (GB/T 32918) and SM3 (GB/T 32905): the national signature and hash algorithms, from
//! RustCrypto's `sm2` and `sm3` crates. The crates sign and verify `r ‖ s`; certificates, CRLs,
//! seals (GB/T 38540) and CMS carry the DER `SEQUENCE { r INTEGER, s INTEGER }` (GB/T 35276), so
//! the encoding is done here. Every signature uses the default signer ID `1234567812345678`
//! in Z (GB/T 35276 §5.3, GB/T 20518), as OpenSSL with `distid` and the Python `gmssl` do.

use der::asn1::UintRef;
use der::{Decode, Encode, Sequence};
use sm2::dsa::signature::{Signer as _, Verifier as _};
use sm3::Digest;

/// The default signer ID (ENTL = 128 bits).
pub const DEFAULT_ID: &str = "1234567812345678";

/// SM3 of `data`.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    sm3::Sm3::digest(data).into()
}

#[derive(Sequence)]
struct DerSignature<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// `r ‖ s` (64 bytes) as DER.
pub fn der_signature(raw: &[u8; 64]) -> Option<Vec<u8>> {
    DerSignature {
        r: UintRef::new(&raw[..32]).ok()?,
        s: UintRef::new(&raw[32..]).ok()?,
    }
    .to_der()
    .ok()
}

/// `r ‖ s` of a signature given as DER, or as the bare 64 bytes some seal makers write.
pub fn raw_signature(signature: &[u8]) -> Option<[u8; 64]> {
    let mut out = [0u8; 64];
    if signature.len() == 64 && signature[0] != 0x30 {
        out.copy_from_slice(signature);
        return Some(out);
    }
    let parsed = DerSignature::from_der(signature).ok()?;
    for (value, half) in [parsed.r, parsed.s].iter().zip(out.chunks_mut(32)) {
        let bytes = value.as_bytes();
        if bytes.len() > 32 {
            return None;
        }
        half[32 - bytes.len()..].copy_from_slice(bytes);
    }
    Some(out)
}

/// Whether `signature` (DER, or `r ‖ s`) is `public_key`'s (SEC1 point) SM2 signature of
/// `message` with the default ID.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Some(raw) = raw_signature(signature) else {
        return false;
    };
    let Ok(key) = sm2::dsa::VerifyingKey::from_sec1_bytes(DEFAULT_ID, public_key) else {
        return false;
    };
    let Ok(sig) = sm2::dsa::Signature::from_slice(&raw) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

/// An SM2 signing key (the scalar stays inside `sm2`'s key type, zeroized on drop).
pub struct Sm2Key {
    key: sm2::dsa::SigningKey,
    public: Vec<u8>,
}

impl Sm2Key {
    /// A key from its 32-byte private scalar.
    pub fn from_scalar(bytes: &[u8]) -> Option<Sm2Key> {
        let key = sm2::dsa::SigningKey::from_slice(DEFAULT_ID, bytes).ok()?;
        let public = key.verifying_key().to_sec1_bytes().to_vec();
        Some(Sm2Key { key, public })
    }

    /// A new random key (32 bytes from the system's generator, drawn again in the rare case
    /// they are not a valid scalar).
    pub fn generate() -> Option<(Sm2Key, zeroize::Zeroizing<Vec<u8>>)> {
        use ring::rand::SecureRandom;
        for _ in 0..8 {
            let mut bytes = zeroize::Zeroizing::new(vec![0u8; 32]);
            ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
            if let Some(key) = Sm2Key::from_scalar(&bytes) {
                return Some((key, bytes));
            }
        }
        None
    }

    /// The uncompressed public point (65 bytes).
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The DER signature of `message` (SM3 over Z ‖ message, deterministic nonce).
    pub fn sign(&self, message: &[u8]) -> Option<Vec<u8>> {
        let sig: sm2::dsa::Signature = self.key.try_sign(message).ok()?;
        der_signature(&sig.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GB/T 32905-2016 Appendix A, examples 1 and 2.
    #[test]
    fn sm3_known_answers() {
        assert_eq!(
            hex::encode(sm3(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        assert_eq!(
            hex::encode(sm3(&b"abcd".repeat(16))),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
    }

    /// GB/T 32918.5-2017 (GM/T 0003.5) Appendix A: the signature example on sm2p256v1 with the
    /// standard's key, ID `1234567812345678` and message "message digest".
    #[test]
    fn sm2_standard_example() {
        let d = hex::decode("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
            .unwrap();
        let key = Sm2Key::from_scalar(&d).unwrap();
        let expected_public = format!(
            "04{}{}",
            "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020",
            "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
        );
        assert_eq!(hex::encode(key.public_key()), expected_public);
        let mut rs = [0u8; 64];
        rs.copy_from_slice(
            &hex::decode(concat!(
                "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3",
                "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
            ))
            .unwrap(),
        );
        assert!(verify(key.public_key(), b"message digest", &rs));
        let der = der_signature(&rs).unwrap();
        assert!(verify(key.public_key(), b"message digest", &der));
        assert_eq!(raw_signature(&der), Some(rs));
        assert!(!verify(key.public_key(), b"message digesT", &rs));
        let mut bad = rs;
        bad[63] ^= 1;
        assert!(!verify(key.public_key(), b"message digest", &bad));
        // Our own signatures verify under the same rules.
        let ours = key.sign(b"message digest").unwrap();
        assert!(verify(key.public_key(), b"message digest", &ours));
    }
}
