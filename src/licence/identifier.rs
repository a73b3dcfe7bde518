//! Licence identifiers (证照标识, GB/T 36904 style):
//! `1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>` where the type code is
//! 21 characters (the defining department's credit code + a 3-digit sequence), the issuer code is
//! a credit code, the serial is 20 upper-case letters and digits, the version is 3 digits, and
//! the check character is ISO/IEC 7064 MOD 37,36 over the four middle parts joined without dots.
//!
//! A serial trustd makes is the issuance time (milliseconds since 2020 in 8 base-36 characters,
//! enough until 2109) followed by 12 random characters: 62 random bits, so identifiers still
//! cannot be enumerated or guessed, but they are stored in time order. The identifier is the key
//! of two B-tree indices (the licences' primary key and the log's subject index): with a wholly
//! random serial each new licence landed on a random leaf of each, and a group commit of N
//! licences wrote about 2.7·N index pages to the WAL; in time order they land on the last
//! leaves (issuance 4,700 → 7,300 licences/s, see BENCHMARKS.md). What the time part reveals
//! (when the licence was issued, to the millisecond) is printed on the licence as its issue
//! date already. Any serial of the alphabet is accepted when parsing.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

use crate::codes::{mod37_36_check, CreditCode};

pub const PREFIX: &str = "1.2.156.3005.2.";
const SERIAL_ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Leading characters of a generated serial that carry the issuance time.
const TIME_CHARS: usize = 8;
/// 2020-01-01T00:00:00Z in milliseconds since the Unix epoch: where the serial's clock starts.
const SERIAL_EPOCH_MS: i128 = 1_577_836_800_000;
/// 36^8 milliseconds after the epoch (in 2109): where the time part runs out.
const SERIAL_TIME_END: u64 = 36u64.pow(TIME_CHARS as u32);

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

    /// A new identifier issued at `at`, version 001: the serial is the time then 12 random
    /// characters (module documentation).
    pub fn generate(
        type_code: &str,
        issuer_code: &str,
        at: time::OffsetDateTime,
    ) -> Result<Self, IdentifierError> {
        let mut serial = [0u8; 20];
        let (clock, random) = serial.split_at_mut(TIME_CHARS);
        let since = at.unix_timestamp_nanos() / 1_000_000 - SERIAL_EPOCH_MS;
        // Before 2020 (a test's clock) counts as 2020; after 2109 the time part stays at its
        // largest value (the order is lost, not the identifier).
        let mut ms = u64::try_from(since.clamp(0, i128::from(SERIAL_TIME_END - 1)))
            .unwrap_or(SERIAL_TIME_END - 1);
        for c in clock.iter_mut().rev() {
            *c = SERIAL_ALPHABET[(ms % 36) as usize];
            ms /= 36;
        }
        SystemRandom::new()
            .fill(random)
            .map_err(|_| IdentifierError::Serial)?;
        // 256 = 7·36 + 4: rejecting bytes ≥ 252 would remove the bias; the residual bias of
        // keeping them is below 2 % per character and does not help enumeration.
        for b in random.iter_mut() {
            *b = SERIAL_ALPHABET[usize::from(*b) % 36];
        }
        let serial = std::str::from_utf8(&serial).map_err(|_| IdentifierError::Serial)?;
        Self::from_parts(type_code, issuer_code, serial, "001")
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
    /// The random part of a serial trustd generated (its last 12 characters).
    pub fn serial_random(&self) -> &str {
        &self.serial()[TIME_CHARS..]
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

    fn at(unix: i64, ms: i64) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap() + time::Duration::milliseconds(ms)
    }

    #[test]
    fn generated_identifiers_parse_and_differ() {
        let now = at(1_764_547_200, 0);
        let a = LicenceIdentifier::generate(TYPE, ISSUER, now).unwrap();
        let b = LicenceIdentifier::generate(TYPE, ISSUER, now).unwrap();
        assert_ne!(a, b);
        assert_ne!(a.serial_random(), b.serial_random());
        assert_eq!(LicenceIdentifier::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn generated_serials_sort_by_issuance_time_and_keep_62_random_bits() {
        // 2020-01-01 is all zeros; one millisecond later is 1.
        let start = LicenceIdentifier::generate(TYPE, ISSUER, at(1_577_836_800, 0)).unwrap();
        assert_eq!(&start.serial()[..8], "00000000");
        let next = LicenceIdentifier::generate(TYPE, ISSUER, at(1_577_836_800, 1)).unwrap();
        assert_eq!(&next.serial()[..8], "00000001");
        // 2026-12-01T00:00:00Z = 218,246,400,000 ms after 2020 = 2S9E9S00 in base 36.
        let id = LicenceIdentifier::generate(TYPE, ISSUER, at(1_796_083_200, 0)).unwrap();
        assert_eq!(&id.serial()[..8], "2S9E9S00");
        // Later issuance sorts later, whatever the random part.
        let mut earlier = id.clone();
        for ms in [1, 999, 86_400_000] {
            let later = LicenceIdentifier::generate(TYPE, ISSUER, at(1_796_083_200, ms)).unwrap();
            assert!(later.serial() > earlier.serial());
            earlier = later;
        }
        // The random part: 12 characters that differ between identifiers of the same instant
        // (a repeat among 36^12 would be a broken generator).
        let serials: std::collections::HashSet<String> = (0..1000)
            .map(|_| {
                let id = LicenceIdentifier::generate(TYPE, ISSUER, at(1_796_083_200, 0)).unwrap();
                assert_eq!(id.serial_random().len(), 12);
                id.serial_random().to_owned()
            })
            .collect();
        assert_eq!(serials.len(), 1000);
        // Out of the clock's range: still an identifier.
        let before = LicenceIdentifier::generate(TYPE, ISSUER, at(0, 0)).unwrap();
        assert_eq!(&before.serial()[..8], "00000000");
        let after = LicenceIdentifier::generate(TYPE, ISSUER, at(5_000_000_000, 0)).unwrap();
        assert_eq!(&after.serial()[..8], "ZZZZZZZZ");
        assert!(LicenceIdentifier::parse(after.as_str()).is_ok());
    }

    #[test]
    fn malformed_identifiers_are_reported() {
        let good = LicenceIdentifier::generate(TYPE, ISSUER, at(1_796_083_200, 0))
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
