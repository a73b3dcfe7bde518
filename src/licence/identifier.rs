//! Licence identifiers (证照标识, GB/T 36904 style):
//! `1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>` where the type code is
//! 21 characters (the defining department's credit code + a 3-digit sequence), the issuer code is
//! a credit code, the serial is 20 random upper-case letters and digits (so identifiers cannot
//! be enumerated), the version is 3 digits, and the check character is ISO/IEC 7064 MOD 37,36
//! over the four middle parts joined without dots.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

use crate::codes::{mod37_36_check, CreditCode};

pub const PREFIX: &str = "1.2.156.3005.2.";
const SERIAL_ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("does not start with {PREFIX}")]
    Prefix,
    #[error(
        "must have five parts after the prefix: type code, issuer code, serial, version, check"
    )]
    Parts,
    #[error("type code must be a credit code followed by 3 digits")]
    TypeCode,
    #[error("issuer code is not a valid credit code")]
    IssuerCode,
    #[error("serial must be 20 upper-case letters or digits")]
    Serial,
    #[error("version must be 3 digits")]
    Version,
    #[error("check character is {found:?} but should be {expected:?}")]
    CheckCharacter { found: String, expected: char },
}

/// A type code: credit code (18) + 3-digit sequence.
pub fn is_type_code(code: &str) -> bool {
    code.len() == 21
        && code.is_char_boundary(18)
        && CreditCode::parse(&code[..18]).is_ok()
        && code[18..].bytes().all(|b| b.is_ascii_digit())
}

/// A licence identifier whose parts and check character are valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LicenceIdentifier(String);

impl LicenceIdentifier {
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let rest = input.strip_prefix(PREFIX).ok_or(IdentifierError::Prefix)?;
        let parts: Vec<&str> = rest.split('.').collect();
        let [type_code, issuer, serial, version, check] = parts.as_slice() else {
            return Err(IdentifierError::Parts);
        };
        if !is_type_code(type_code) {
            return Err(IdentifierError::TypeCode);
        }
        if CreditCode::parse(issuer).is_err() {
            return Err(IdentifierError::IssuerCode);
        }
        if serial.len() != 20 || !serial.bytes().all(|b| SERIAL_ALPHABET.contains(&b)) {
            return Err(IdentifierError::Serial);
        }
        if version.len() != 3 || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdentifierError::Version);
        }
        let expected = mod37_36_check(&format!("{type_code}{issuer}{serial}{version}"))
            .ok_or(IdentifierError::Serial)?;
        if check.len() != 1 || !check.starts_with(expected) {
            return Err(IdentifierError::CheckCharacter {
                found: (*check).to_owned(),
                expected,
            });
        }
        Ok(LicenceIdentifier(input.to_owned()))
    }

    /// A new identifier with a random serial, version 001.
    pub fn generate(type_code: &str, issuer_code: &str) -> Result<Self, IdentifierError> {
        let mut random = [0u8; 20];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| IdentifierError::Serial)?;
        // 256 = 7·36 + 4: rejecting bytes ≥ 252 would remove the bias; the residual bias of
        // keeping them is below 2 % per character and does not help enumeration.
        let serial: String = random
            .iter()
            .map(|b| char::from(SERIAL_ALPHABET[usize::from(*b) % 36]))
            .collect();
        Self::from_parts(type_code, issuer_code, &serial, "001")
    }

    pub fn from_parts(
        type_code: &str,
        issuer_code: &str,
        serial: &str,
        version: &str,
    ) -> Result<Self, IdentifierError> {
        let check = mod37_36_check(&format!("{type_code}{issuer_code}{serial}{version}"))
            .ok_or(IdentifierError::Serial)?;
        Self::parse(&format!(
            "{PREFIX}{type_code}.{issuer_code}.{serial}.{version}.{check}"
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn part(&self, n: usize) -> &str {
        self.0[PREFIX.len()..].split('.').nth(n).unwrap_or_default()
    }
    pub fn type_code(&self) -> &str {
        self.part(0)
    }
    pub fn issuer_code(&self) -> &str {
        self.part(1)
    }
    pub fn serial(&self) -> &str {
        self.part(2)
    }
}

impl fmt::Display for LicenceIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "91350100M000100Y43001";
    const ISSUER: &str = "91350100M000100Y43";

    #[test]
    fn known_answer() {
        // Check character from python-stdnum's mod_37_36 over the joined parts.
        let id =
            LicenceIdentifier::from_parts(TYPE, ISSUER, "K7Q2M9X4T1B8C5D6E3F0", "001").unwrap();
        assert_eq!(
            id.as_str(),
            "1.2.156.3005.2.91350100M000100Y43001.91350100M000100Y43.K7Q2M9X4T1B8C5D6E3F0.001.B"
        );
        assert_eq!(id.type_code(), TYPE);
        assert_eq!(id.issuer_code(), ISSUER);
        assert_eq!(id.serial(), "K7Q2M9X4T1B8C5D6E3F0");
    }

    #[test]
    fn generated_identifiers_parse_and_differ() {
        let a = LicenceIdentifier::generate(TYPE, ISSUER).unwrap();
        let b = LicenceIdentifier::generate(TYPE, ISSUER).unwrap();
        assert_ne!(a, b);
        assert_eq!(LicenceIdentifier::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn malformed_identifiers_are_reported() {
        let good = LicenceIdentifier::generate(TYPE, ISSUER)
            .unwrap()
            .to_string();
        let mut wrong_check = good.clone();
        let last = wrong_check.pop().unwrap();
        wrong_check.push(if last == '0' { '1' } else { '0' });
        assert!(matches!(
            LicenceIdentifier::parse(&wrong_check),
            Err(IdentifierError::CheckCharacter { .. })
        ));
        assert_eq!(
            LicenceIdentifier::parse("1.2.3"),
            Err(IdentifierError::Prefix)
        );
        assert_eq!(
            LicenceIdentifier::parse(&format!("{PREFIX}a.b")),
            Err(IdentifierError::Parts)
        );
        assert_eq!(
            LicenceIdentifier::parse(&good.replace(&format!(".{ISSUER}."), ".91350100M000100Y44.")),
            Err(IdentifierError::IssuerCode)
        );
        assert_eq!(
            LicenceIdentifier::parse(&good.replace(".001.", ".01.")),
            Err(IdentifierError::Version)
        );
        let lower = good.to_lowercase().replace("1.2.156.3005.2.", PREFIX);
        assert!(LicenceIdentifier::parse(&lower).is_err());
        assert!(LicenceIdentifier::parse("").is_err());
        assert!(LicenceIdentifier::parse(&format!("{PREFIX}张三.....")).is_err());
    }
}
