//! National code systems, parsed into types that only exist when valid.
//!
//! - [`CreditCode`]: 统一社会信用代码, GB 32100-2015 (18 characters, check character §4.3).

use std::fmt;

use serde::{Serialize, Serializer};

/// The GB 32100-2015 character set (table 1): digits and upper-case letters without I, O, Z, S, V.
const CREDIT_CODE_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1..=17 (GB 32100-2015 §4.3): 3^(i-1) mod 31.
const CREDIT_CODE_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Why a string is not a unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    #[error("must be 18 characters, got {0}")]
    Length(usize),
    #[error("character {position} ({found:?}) is not allowed: use digits and upper-case letters except I, O, Z, S, V")]
    Character { position: usize, found: char },
    #[error("check character is {found:?} but should be {expected:?}")]
    CheckCharacter { found: char, expected: char },
}

/// A unified social credit code (统一社会信用代码) whose check character is correct.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode(String);

impl CreditCode {
    pub fn parse(input: &str) -> Result<Self, CreditCodeError> {
        let chars: Vec<char> = input.chars().collect();
        if chars.len() != 18 {
            return Err(CreditCodeError::Length(chars.len()));
        }
        let mut values = [0u32; 18];
        for (position, (slot, c)) in values.iter_mut().zip(&chars).enumerate() {
            *slot = credit_code_value(*c).ok_or(CreditCodeError::Character {
                position: position + 1,
                found: *c,
            })?;
        }
        let expected = credit_code_check_value(&values[..17]);
        if values[17] != expected {
            return Err(CreditCodeError::CheckCharacter {
                found: chars[17],
                expected: char::from(CREDIT_CODE_CHARSET[expected as usize]),
            });
        }
        Ok(CreditCode(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn credit_code_value(c: char) -> Option<u32> {
    let byte = u8::try_from(c).ok()?;
    CREDIT_CODE_CHARSET
        .iter()
        .position(|&b| b == byte)
        .map(|p| p as u32)
}

/// C18 = 31 - (Σ Ci·Wi mod 31), with 31 written as 0 (GB 32100-2015 §4.3).
fn credit_code_check_value(first17: &[u32]) -> u32 {
    let sum: u32 = first17
        .iter()
        .zip(CREDIT_CODE_WEIGHTS)
        .map(|(v, w)| v * w)
        .sum();
    (31 - sum % 31) % 31
}

/// Completes 17 valid characters with their check character (test data and demos).
pub fn credit_code_with_check(first17: &str) -> Option<CreditCode> {
    if first17.chars().count() != 17 {
        return None;
    }
    let values: Option<Vec<u32>> = first17.chars().map(credit_code_value).collect();
    let check = credit_code_check_value(&values?);
    CreditCode::parse(&format!(
        "{first17}{}",
        char::from(CREDIT_CODE_CHARSET[check as usize])
    ))
    .ok()
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for CreditCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_examples_are_valid() {
        // Examples printed in GB 32100-2015 and on public registration certificates.
        for code in [
            "91350100M000100Y43",
            "91110000600037341L",
            "911100001000044477",
        ] {
            assert!(CreditCode::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn wrong_check_character_is_named() {
        let err = CreditCode::parse("91350100M000100Y44").unwrap_err();
        assert_eq!(
            err,
            CreditCodeError::CheckCharacter {
                found: '4',
                expected: '3'
            }
        );
    }

    #[test]
    fn length_and_charset_are_checked() {
        assert_eq!(
            CreditCode::parse("9135").unwrap_err(),
            CreditCodeError::Length(4)
        );
        assert!(matches!(
            CreditCode::parse("91350100I000100Y43").unwrap_err(),
            CreditCodeError::Character {
                position: 9,
                found: 'I'
            }
        ));
        assert!(CreditCode::parse("91350100m000100Y43").is_err());
        assert!(CreditCode::parse("９1350100M000100Y43").is_err());
    }

    #[test]
    fn completing_a_code_round_trips() {
        let code = credit_code_with_check("91350100M000100Y4").unwrap();
        assert_eq!(code.as_str(), "91350100M000100Y43");
    }
}
