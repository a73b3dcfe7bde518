//! National code systems, parsed into types that only exist when valid.
//!
//! - [`CreditCode`]: 统一社会信用代码, GB 32100-2015 (18 characters, check character §4.3).
//! - [`CitizenId`]: 公民身份号码, GB 11643-1999 (ISO 7064 MOD 11-2 check character).
//! - [`mod37_36_check`]: ISO/IEC 7064 MOD 37,36 (hybrid system), used by licence identifiers.

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

/// Why a string is not a citizen ID number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CitizenIdError {
    #[error("must be 17 digits followed by a digit or X")]
    Format,
    #[error("the birth date {0} is not a real date")]
    BirthDate(String),
    #[error("check character is {found:?} but should be {expected:?}")]
    CheckCharacter { found: char, expected: char },
}

/// A citizen identity number (公民身份号码, GB 11643-1999) whose check character is correct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenId(String);

impl CitizenId {
    pub fn parse(input: &str) -> Result<Self, CitizenIdError> {
        let bytes = input.as_bytes();
        if bytes.len() != 18
            || !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
        {
            return Err(CitizenIdError::Format);
        }
        // Positions 7-14 are the birth date YYYYMMDD.
        let date = &input[6..14];
        let parsed = (|| {
            let y: i32 = date[..4].parse().ok()?;
            let m: u8 = date[4..6].parse().ok()?;
            let d: u8 = date[6..].parse().ok()?;
            time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
        })();
        if parsed.is_none() {
            return Err(CitizenIdError::BirthDate(date.to_owned()));
        }
        let expected = mod11_2_check(&input[..17]);
        let found = char::from(bytes[17]);
        if found != expected {
            return Err(CitizenIdError::CheckCharacter { found, expected });
        }
        Ok(CitizenId(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ISO 7064 MOD 11-2 over digits: weights 2^(n-i) mod 11; 10 is written X.
pub fn mod11_2_check(digits: &str) -> char {
    let sum = digits
        .bytes()
        .fold(0u32, |acc, b| (acc + u32::from(b - b'0')) * 2 % 11);
    let check = (12 - sum % 11) % 11;
    if check == 10 {
        'X'
    } else {
        char::from(b'0' + check as u8)
    }
}

/// The ISO/IEC 7064 MOD 37,36 alphabet: digits then upper-case letters.
const MOD37_36_ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// ISO/IEC 7064 MOD 37,36 (hybrid system) check character over digits and upper-case letters;
/// `None` if another character is present.
pub fn mod37_36_check(input: &str) -> Option<char> {
    const M: u32 = 36;
    let mut p = M;
    for c in input.bytes() {
        let v = MOD37_36_ALPHABET.iter().position(|&a| a == c)? as u32;
        let mut s = (p + v) % M;
        if s == 0 {
            s = M;
        }
        p = s * 2 % (M + 1);
    }
    let check = (M + 1 - p) % M;
    Some(char::from(MOD37_36_ALPHABET[check as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod37_36_known_answers() {
        // Reference values computed with python-stdnum (stdnum.iso7064.mod_37_36), including the
        // standard's example A12425GABC1234002 → M.
        for (input, check) in [
            ("A12425GABC1234002", 'M'),
            ("91350100M000100Y43001", 'M'),
            ("0", '2'),
            ("Z", '4'),
            ("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", '0'),
            (
                "11100000000000012300191350100M000100Y43K7Q2M9X4T1B8C5D6E3F0001",
                '5',
            ),
        ] {
            assert_eq!(mod37_36_check(input), Some(check), "{input}");
        }
        assert_eq!(mod37_36_check("abc"), None);
        assert_eq!(mod37_36_check("A-1"), None);
    }

    #[test]
    fn citizen_id_known_answers() {
        // Check characters from python-stdnum (stdnum.iso7064.mod_11_2).
        assert_eq!(mod11_2_check("11010519491231002"), 'X');
        assert_eq!(mod11_2_check("44052418800101001"), '4');
        assert_eq!(mod11_2_check("32010619900307123"), '4');
        assert!(CitizenId::parse("11010519491231002X").is_ok());
        assert!(CitizenId::parse("440524188001010014").is_ok());
        assert_eq!(
            CitizenId::parse("110105194912310021"),
            Err(CitizenIdError::CheckCharacter {
                found: '1',
                expected: 'X'
            })
        );
        assert_eq!(
            CitizenId::parse("11010519491331002X"),
            Err(CitizenIdError::BirthDate("19491331".into()))
        );
        assert_eq!(
            CitizenId::parse("11010519491231002x"),
            Err(CitizenIdError::Format)
        );
        assert_eq!(
            CitizenId::parse("1101051949123100"),
            Err(CitizenIdError::Format)
        );
    }

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
