//! GB/T 38540-2020 electronic seals (`SESeal`, v4) and signatures (`SES_Signature`, v4), and
//! the GM/T 0031-2014 (v1) structures they replaced (ARCHITECTURE.md §11).
//!
//! Written strictly, as DER with the standard's types. Read leniently, because real files
//! deviate in known ways: OCTET STRING where BIT STRING is specified, UTCTime where
//! GeneralizedTime is, `r ‖ s` instead of a DER signature, the time-stamp tagged explicitly or
//! not. No crate reads these structures, so the reader walks the DER with `der`'s `AnyRef` and
//! keeps the exact bytes that were signed (the seal information, the `TBS_Sign`).

use der::asn1::{
    AnyRef, BitString, GeneralizedTime, Ia5String, ObjectIdentifier, OctetString, UtcTime,
    Utf8StringRef,
};
use der::{Decode, Encode, Sequence, Tag, TagNumber, Tagged};

/// Why a structure could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SesError {
    #[error("{0} is not DER of the expected structure")]
    Malformed(&'static str),
    #[error("unsupported version {0}")]
    Version(i64),
    #[error("a value cannot be encoded: {0}")]
    Encode(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Writing (v4).

#[derive(Sequence)]
struct Header {
    id: Ia5String,
    version: i64,
    vid: Ia5String,
}

#[derive(Sequence)]
struct PropertyInfo<'a> {
    kind: i64,
    name: Utf8StringRef<'a>,
    cert_list_type: i64,
    cert_list: Vec<OctetString>,
    create_date: GeneralizedTime,
    valid_start: GeneralizedTime,
    valid_end: GeneralizedTime,
}

#[derive(Sequence)]
struct PictureInfo {
    kind: Ia5String,
    data: OctetString,
    width: i64,
    height: i64,
}

#[derive(Sequence)]
struct SealInfo<'a> {
    header: Header,
    es_id: Ia5String,
    property: PropertyInfo<'a>,
    picture: PictureInfo,
}

/// What a v4 seal says, before the maker signs it.
#[derive(Debug, Clone)]
pub struct SealContent {
    /// esID: the seal's identifier.
    pub es_id: String,
    /// vid: the maker's (vendor's) identifier.
    pub vid: String,
    /// type: 1 official seal (单位印章), 2 personal seal; trustd writes 1.
    pub kind: i64,
    pub name: String,
    /// The signers' certificates (certListType 1).
    pub certs: Vec<Vec<u8>>,
    pub created: i64,
    pub valid_start: i64,
    pub valid_end: i64,
    /// PNG bytes and the printed size in millimetres.
    pub png: Vec<u8>,
    pub width_mm: i64,
    pub height_mm: i64,
}

fn generalized(unix: i64) -> Result<GeneralizedTime, SesError> {
    let secs = u64::try_from(unix).map_err(|_| SesError::Encode("time"))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|_| SesError::Encode("time"))
}

fn ia5(s: &str) -> Result<Ia5String, SesError> {
    Ia5String::new(s).map_err(|_| SesError::Encode("IA5String"))
}

fn octets(b: &[u8]) -> Result<OctetString, SesError> {
    OctetString::new(b).map_err(|_| SesError::Encode("OCTET STRING"))
}

fn bits(b: &[u8]) -> Result<BitString, SesError> {
    BitString::from_bytes(b).map_err(|_| SesError::Encode("BIT STRING"))
}

/// The DER `SES_SealInfo` the maker signs.
pub fn seal_info_der(content: &SealContent) -> Result<Vec<u8>, SesError> {
    let info = SealInfo {
        header: Header {
            id: ia5("ES")?,
            version: 4,
            vid: ia5(&content.vid)?,
        },
        es_id: ia5(&content.es_id)?,
        property: PropertyInfo {
            kind: content.kind,
            name: Utf8StringRef::new(&content.name).map_err(|_| SesError::Encode("name"))?,
            cert_list_type: 1,
            cert_list: content
                .certs
                .iter()
                .map(|c| octets(c))
                .collect::<Result<_, _>>()?,
            create_date: generalized(content.created)?,
            valid_start: generalized(content.valid_start)?,
            valid_end: generalized(content.valid_end)?,
        },
        picture: PictureInfo {
            kind: ia5("PNG")?,
            data: octets(&content.png)?,
            width: content.width_mm,
            height: content.height_mm,
        },
    };
    info.to_der().map_err(|_| SesError::Encode("SES_SealInfo"))
}

/// `SESeal ::= SEQUENCE { esealInfo, cert OCTET STRING, signAlgID OID, signedValue BIT STRING }`
/// from the signed information's DER, the maker's certificate and its DER SM2 signature.
pub fn seal_der(
    info_der: &[u8],
    maker_cert: &[u8],
    algorithm: ObjectIdentifier,
    signature: &[u8],
) -> Result<Vec<u8>, SesError> {
    let info = AnyRef::try_from(info_der).map_err(|_| SesError::Malformed("SES_SealInfo"))?;
    sequence(&[
        enc(&info)?,
        enc(&octets(maker_cert)?)?,
        enc(&algorithm)?,
        enc(&bits(signature)?)?,
    ])
}

/// The DER `TBS_Sign` (v4) a signer signs: the seal, the time, SM3 of the signed file, its path.
pub fn tbs_sign_der(
    seal_der: &[u8],
    time: i64,
    data_hash: &[u8],
    property_info: &str,
) -> Result<Vec<u8>, SesError> {
    let seal = AnyRef::try_from(seal_der).map_err(|_| SesError::Malformed("SESeal"))?;
    sequence(&[
        enc(&4i64)?,
        enc(&seal)?,
        enc(&generalized(time)?)?,
        enc(&bits(data_hash)?)?,
        enc(&ia5(property_info)?)?,
    ])
}

/// The DER `SES_Signature` (v4): `TBS_Sign`, the signer's certificate, the algorithm, the
/// signature, and the time-stamp token over the signature as `[0] EXPLICIT BIT STRING`.
pub fn signature_der(
    tbs_der: &[u8],
    cert: &[u8],
    algorithm: ObjectIdentifier,
    signature: &[u8],
    time_stamp: Option<&[u8]>,
) -> Result<Vec<u8>, SesError> {
    let tbs = AnyRef::try_from(tbs_der).map_err(|_| SesError::Malformed("TBS_Sign"))?;
    let mut fields = vec![
        enc(&tbs)?,
        enc(&octets(cert)?)?,
        enc(&algorithm)?,
        enc(&bits(signature)?)?,
    ];
    if let Some(t) = time_stamp {
        fields.push(enc(&der::asn1::ContextSpecific {
            tag_number: TagNumber::N0,
            tag_mode: der::TagMode::Explicit,
            value: bits(t)?,
        })?);
    }
    sequence(&fields)
}

fn enc<T: Encode>(value: &T) -> Result<Vec<u8>, SesError> {
    value.to_der().map_err(|_| SesError::Encode("field"))
}

/// A SEQUENCE of already-encoded fields.
fn sequence(fields: &[Vec<u8>]) -> Result<Vec<u8>, SesError> {
    let body = fields.concat();
    let header =
        der::Header::new(Tag::Sequence, body.len()).map_err(|_| SesError::Encode("SEQUENCE"))?;
    let mut out = Vec::with_capacity(body.len() + 8);
    header
        .encode_to_vec(&mut out)
        .map_err(|_| SesError::Encode("SEQUENCE"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Reading (v4 and v1), leniently.

/// A seal as read from a file.
#[derive(Debug, Clone)]
pub struct Seal {
    /// 4 (GB/T 38540) or 1 (GM/T 0031).
    pub version: i64,
    pub es_id: String,
    pub vid: String,
    pub name: String,
    /// 1: certificates; 2: certificate digests.
    pub cert_list_type: i64,
    pub cert_list: Vec<Vec<u8>>,
    pub valid_start: Option<i64>,
    pub valid_end: Option<i64>,
    pub picture_type: String,
    pub picture: Vec<u8>,
    pub width: i64,
    pub height: i64,
    /// The maker's certificate, signature algorithm (dotted OID or name) and signature.
    pub maker_cert: Vec<u8>,
    pub maker_algorithm: String,
    pub maker_signature: Vec<u8>,
    /// The byte strings the maker may have signed, in the order to try: v4 signs the DER of
    /// `SES_SealInfo`; v1 files differ between makers (the information alone, or with the
    /// certificate and algorithm after it).
    pub maker_signed: Vec<Vec<u8>>,
}

/// A signature (`SES_Signature`) as read from a file.
#[derive(Debug, Clone)]
pub struct Signature {
    pub version: i64,
    pub seal: Seal,
    /// The exact DER of the seal inside `TBS_Sign`.
    pub seal_der: Vec<u8>,
    pub time: Option<i64>,
    pub data_hash: Vec<u8>,
    pub property_info: String,
    pub cert: Vec<u8>,
    pub algorithm: String,
    pub signature: Vec<u8>,
    /// The exact DER of `TBS_Sign`, which the signature covers.
    pub tbs: Vec<u8>,
    /// The RFC 3161 token over the signature value, if any.
    pub time_stamp: Option<Vec<u8>>,
}

/// Most elements read from one SEQUENCE: a bound on hostile input.
const MAX_CHILDREN: usize = 4096;

fn children<'a>(any: &AnyRef<'a>, what: &'static str) -> Result<Vec<AnyRef<'a>>, SesError> {
    if any.tag() != Tag::Sequence {
        return Err(SesError::Malformed(what));
    }
    let mut reader = der::SliceReader::new(any.value()).map_err(|_| SesError::Malformed(what))?;
    let mut out = Vec::new();
    while !der::Reader::is_finished(&reader) {
        if out.len() >= MAX_CHILDREN {
            return Err(SesError::Malformed(what));
        }
        out.push(AnyRef::decode(&mut reader).map_err(|_| SesError::Malformed(what))?);
    }
    Ok(out)
}

fn field<'a>(items: &[AnyRef<'a>], i: usize, what: &'static str) -> Result<AnyRef<'a>, SesError> {
    items.get(i).copied().ok_or(SesError::Malformed(what))
}

fn der_of(any: &AnyRef<'_>, what: &'static str) -> Result<Vec<u8>, SesError> {
    any.to_der().map_err(|_| SesError::Malformed(what))
}

fn integer(any: &AnyRef<'_>, what: &'static str) -> Result<i64, SesError> {
    any.decode_as::<i64>()
        .map_err(|_| SesError::Malformed(what))
}

/// Text of any string type (IA5String, UTF8String, PrintableString…).
fn text(any: &AnyRef<'_>, what: &'static str) -> Result<String, SesError> {
    match any.tag() {
        Tag::Ia5String | Tag::Utf8String | Tag::PrintableString | Tag::VisibleString => {
            String::from_utf8(any.value().to_vec()).map_err(|_| SesError::Malformed(what))
        }
        _ => Err(SesError::Malformed(what)),
    }
}

/// The content of a BIT STRING (whole bytes) or, leniently, of an OCTET STRING.
fn bytes(any: &AnyRef<'_>, what: &'static str) -> Result<Vec<u8>, SesError> {
    match any.tag() {
        Tag::OctetString => Ok(any.value().to_vec()),
        Tag::BitString => match any.value().split_first() {
            Some((0, rest)) => Ok(rest.to_vec()),
            _ => Err(SesError::Malformed(what)),
        },
        _ => Err(SesError::Malformed(what)),
    }
}

/// An algorithm as a dotted OID, or the name some files write instead (`SM2`, `SM3`).
fn algorithm(any: &AnyRef<'_>, what: &'static str) -> Result<String, SesError> {
    if any.tag() == Tag::ObjectIdentifier {
        return any
            .decode_as::<ObjectIdentifier>()
            .map(|o| o.to_string())
            .map_err(|_| SesError::Malformed(what));
    }
    text(any, what)
}

/// GeneralizedTime, UTCTime, or (v1 `timeInfo`) a BIT/OCTET STRING holding the time's text.
fn time(any: &AnyRef<'_>) -> Option<i64> {
    let secs = match any.tag() {
        Tag::GeneralizedTime => any.decode_as::<GeneralizedTime>().ok()?.to_unix_duration(),
        Tag::UtcTime => any.decode_as::<UtcTime>().ok()?.to_unix_duration(),
        Tag::BitString | Tag::OctetString => {
            let raw = bytes(any, "time").ok()?;
            let text = std::str::from_utf8(&raw).ok()?;
            return parse_time_text(text);
        }
        _ => return None,
    };
    i64::try_from(secs.as_secs()).ok()
}

/// `YYYYMMDDHHMMSS[Z]` (as v1 files write the signing time) as unix seconds.
fn parse_time_text(text: &str) -> Option<i64> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 14 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits.get(r)?.parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        i32::try_from(n(0..4)?).ok()?,
        time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?,
        u8::try_from(n(6..8)?).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(n(8..10)?).ok()?,
        u8::try_from(n(10..12)?).ok()?,
        u8::try_from(n(12..14)?).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// Reads a `SESeal` (v4 or v1).
pub fn read_seal(der_bytes: &[u8]) -> Result<Seal, SesError> {
    let any = AnyRef::from_der(der_bytes).map_err(|_| SesError::Malformed("SESeal"))?;
    seal_from(&any)
}

fn seal_from(any: &AnyRef<'_>) -> Result<Seal, SesError> {
    let top = children(any, "SESeal")?;
    let info_any = field(&top, 0, "SESeal")?;
    let info = children(&info_any, "SES_SealInfo")?;
    let header = children(&field(&info, 0, "SES_Header")?, "SES_Header")?;
    if text(&field(&header, 0, "SES_Header")?, "SES_Header")? != "ES" {
        return Err(SesError::Malformed("SES_Header"));
    }
    let version = integer(&field(&header, 1, "SES_Header")?, "SES_Header")?;
    let vid = text(&field(&header, 2, "SES_Header")?, "SES_Header")?;
    let es_id = text(&field(&info, 1, "esID")?, "esID")?;
    let property = children(
        &field(&info, 2, "SES_ESPropertyInfo")?,
        "SES_ESPropertyInfo",
    )?;
    let picture = children(&field(&info, 3, "SES_ESPictrueInfo")?, "SES_ESPictrueInfo")?;
    let info_der = der_of(&info_any, "SES_SealInfo")?;
    let (name, cert_list_type, list, dates) = match version {
        // type, name, certListType, certList, createDate, validStart, validEnd
        4 => (
            text(&field(&property, 1, "name")?, "name")?,
            integer(&field(&property, 2, "certListType")?, "certListType")?,
            field(&property, 3, "certList")?,
            4,
        ),
        // type, name, certList, createDate, validStart, validEnd
        1..=3 => (
            text(&field(&property, 1, "name")?, "name")?,
            1,
            field(&property, 2, "certList")?,
            3,
        ),
        v => return Err(SesError::Version(v)),
    };
    let cert_list = children(&list, "certList")?
        .iter()
        .map(|c| match c.tag() {
            // certListType 2: SEQUENCE { certDigest OCTET STRING, … } pairs are read as their
            // first octet string.
            Tag::Sequence => children(c, "certList")
                .and_then(|kids| bytes(&field(&kids, 1, "certList")?, "certList")),
            _ => bytes(c, "certList"),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let valid_start = property.get(dates + 1).and_then(time);
    let valid_end = property.get(dates + 2).and_then(time);
    let (maker_cert, maker_algorithm, maker_signature, maker_signed) =
        maker_of(version, &top, info_der)?;
    Ok(Seal {
        version,
        es_id,
        vid,
        name,
        cert_list_type,
        cert_list,
        valid_start,
        valid_end,
        picture_type: text(&field(&picture, 0, "picture type")?, "picture type")?,
        picture: bytes(&field(&picture, 1, "picture data")?, "picture data")?,
        width: integer(&field(&picture, 2, "picture width")?, "picture width").unwrap_or(0),
        height: integer(&field(&picture, 3, "picture height")?, "picture height").unwrap_or(0),
        maker_cert,
        maker_algorithm,
        maker_signature,
        maker_signed,
    })
}

/// The maker's certificate, algorithm, signature and the byte strings it may have signed: v4
/// signs the DER of `SES_SealInfo`; v1 files differ between makers (the information alone, or
/// with the certificate and algorithm after it).
type Maker = (Vec<u8>, String, Vec<u8>, Vec<Vec<u8>>);

fn maker_of(version: i64, top: &[AnyRef<'_>], info_der: Vec<u8>) -> Result<Maker, SesError> {
    Ok(if version >= 4 {
        (
            bytes(&field(top, 1, "cert")?, "cert")?,
            algorithm(&field(top, 2, "signAlgID")?, "signAlgID")?,
            bytes(&field(top, 3, "signedValue")?, "signedValue")?,
            vec![info_der],
        )
    } else {
        // SES_SignInfo ::= SEQUENCE { cert, signatureAlgorithm, signData }
        let sign_info = children(&field(top, 1, "SES_SignInfo")?, "SES_SignInfo")?;
        let cert_any = field(&sign_info, 0, "cert")?;
        let alg_any = field(&sign_info, 1, "signatureAlgorithm")?;
        let mut with_cert = info_der.clone();
        with_cert.extend(der_of(&cert_any, "cert")?);
        with_cert.extend(der_of(&alg_any, "signatureAlgorithm")?);
        (
            bytes(&cert_any, "cert")?,
            algorithm(&alg_any, "signatureAlgorithm")?,
            bytes(&field(&sign_info, 2, "signData")?, "signData")?,
            vec![info_der, with_cert],
        )
    })
}

/// Reads a `SES_Signature` (v4 or v1).
pub fn read_signature(der_bytes: &[u8]) -> Result<Signature, SesError> {
    let any = AnyRef::from_der(der_bytes).map_err(|_| SesError::Malformed("SES_Signature"))?;
    let top = children(&any, "SES_Signature")?;
    let tbs_any = field(&top, 0, "TBS_Sign")?;
    let tbs = children(&tbs_any, "TBS_Sign")?;
    let version = integer(&field(&tbs, 0, "TBS_Sign version")?, "TBS_Sign version")?;
    let seal_any = field(&tbs, 1, "SESeal")?;
    let seal = seal_from(&seal_any)?;
    let time_info = time(&field(&tbs, 2, "timeInfo")?);
    let data_hash = bytes(&field(&tbs, 3, "dataHash")?, "dataHash")?;
    let property_info = text(&field(&tbs, 4, "propertyInfo")?, "propertyInfo")?;
    let (cert, algorithm_name, signature, time_stamp) = if version >= 4 {
        let stamp = top.get(4).map(time_stamp).transpose()?;
        (
            bytes(&field(&top, 1, "cert")?, "cert")?,
            algorithm(&field(&top, 2, "signatureAlgID")?, "signatureAlgID")?,
            bytes(&field(&top, 3, "signature")?, "signature")?,
            stamp,
        )
    } else {
        (
            bytes(&field(&tbs, 5, "cert")?, "cert")?,
            algorithm(&field(&tbs, 6, "signatureAlgorithm")?, "signatureAlgorithm")?,
            bytes(&field(&top, 1, "signature")?, "signature")?,
            None,
        )
    };
    Ok(Signature {
        version,
        seal,
        seal_der: der_of(&seal_any, "SESeal")?,
        time: time_info,
        data_hash,
        property_info,
        cert,
        algorithm: algorithm_name,
        signature,
        tbs: der_of(&tbs_any, "TBS_Sign")?,
        time_stamp,
    })
}

/// `timeStamp [0]`: explicit (a BIT or OCTET STRING inside) or implicit (its content bits).
fn time_stamp(any: &AnyRef<'_>) -> Result<Vec<u8>, SesError> {
    let what = "timeStamp";
    match any.tag() {
        Tag::ContextSpecific {
            constructed: true,
            number: TagNumber::N0,
        } => {
            let inner = AnyRef::from_der(any.value()).map_err(|_| SesError::Malformed(what))?;
            match inner.tag() {
                // Some makers put the token itself there.
                Tag::Sequence => der_of(&inner, what),
                _ => bytes(&inner, what),
            }
        }
        Tag::ContextSpecific {
            constructed: false,
            number: TagNumber::N0,
        } => match any.value().split_first() {
            Some((0, rest)) if rest.first() == Some(&0x30) => Ok(rest.to_vec()),
            _ => Ok(any.value().to_vec()),
        },
        _ => Err(SesError::Malformed(what)),
    }
}

/// Whether an algorithm written in a seal or a signature means SM2 (with SM3).
pub fn is_sm2(algorithm: &str) -> bool {
    matches!(
        algorithm,
        "1.2.156.10197.1.501" | "1.2.156.10197.1.301.1" | "1.2.156.10197.1.301"
    ) || algorithm.eq_ignore_ascii_case("SM2")
        || algorithm.eq_ignore_ascii_case("SM3WithSM2")
        || algorithm.eq_ignore_ascii_case("SM2-with-SM3")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> SealContent {
        SealContent {
            es_id: "seal_0011223344556677".into(),
            vid: "trustd".into(),
            kind: 1,
            name: "合同专用章".into(),
            certs: vec![vec![0x30, 0x03, 0x02, 0x01, 0x01]],
            created: 1_800_000_000,
            valid_start: 1_800_000_000,
            valid_end: 1_900_000_000,
            png: vec![0x89, b'P', b'N', b'G'],
            width_mm: 40,
            height_mm: 40,
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        let info = seal_info_der(&content()).unwrap();
        let seal = seal_der(
            &info,
            b"\x30\x00",
            ObjectIdentifier::new_unwrap("1.2.156.10197.1.501"),
            b"\x30\x06\x02\x01\x01\x02\x01\x02",
        )
        .unwrap();
        let read = read_seal(&seal).unwrap();
        assert_eq!(read.version, 4);
        assert_eq!(read.name, "合同专用章");
        assert_eq!(read.cert_list, content().certs);
        assert_eq!(read.valid_end, Some(1_900_000_000));
        assert_eq!(read.maker_signed, vec![info]);
        assert!(is_sm2(&read.maker_algorithm));
        let tbs = tbs_sign_der(
            &seal,
            1_850_000_000,
            &[7u8; 32],
            "/Doc_0/Signs/Sign_0/Signature.xml",
        )
        .unwrap();
        let sig = signature_der(
            &tbs,
            b"\x30\x00",
            ObjectIdentifier::new_unwrap("1.2.156.10197.1.501"),
            b"\x30\x00",
            Some(b"\x30\x01\x00"),
        )
        .unwrap();
        let read = read_signature(&sig).unwrap();
        assert_eq!(read.tbs, tbs);
        assert_eq!(read.time, Some(1_850_000_000));
        assert_eq!(read.data_hash, vec![7u8; 32]);
        assert_eq!(read.time_stamp.as_deref(), Some(&b"\x30\x01\x00"[..]));
    }

    /// GM/T 0031-2014 (v1): the maker's SES_SignInfo inside the seal, the signer's certificate
    /// and algorithm inside TBS_Sign, timeInfo as a BIT STRING of text, UTCTime dates, and
    /// OCTET STRING where BIT STRING is specified.
    #[test]
    fn gm_t_0031_v1_structures_are_read() {
        let utc = |t: &str| {
            let mut v = vec![0x17, t.len() as u8];
            v.extend_from_slice(t.as_bytes());
            v
        };
        let oid = ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");
        let header = sequence(&[
            enc(&ia5("ES").unwrap()).unwrap(),
            enc(&1i64).unwrap(),
            enc(&ia5("v1maker").unwrap()).unwrap(),
        ])
        .unwrap();
        let certs = sequence(&[enc(&octets(b"\x30\x01\x00").unwrap()).unwrap()]).unwrap();
        let property = sequence(&[
            enc(&1i64).unwrap(),
            enc(&Utf8StringRef::new("旧式印章").unwrap()).unwrap(),
            certs,
            utc("200101000000Z"),
            utc("200101000000Z"),
            utc("300101000000Z"),
        ])
        .unwrap();
        let picture = sequence(&[
            enc(&ia5("PNG").unwrap()).unwrap(),
            enc(&octets(b"png").unwrap()).unwrap(),
            enc(&30i64).unwrap(),
            enc(&30i64).unwrap(),
        ])
        .unwrap();
        let info = sequence(&[
            header,
            enc(&ia5("v1-seal").unwrap()).unwrap(),
            property,
            picture,
        ])
        .unwrap();
        let sign_info = sequence(&[
            enc(&octets(b"maker").unwrap()).unwrap(),
            enc(&oid).unwrap(),
            enc(&octets(b"sig").unwrap()).unwrap(),
        ])
        .unwrap();
        let seal = sequence(&[info.clone(), sign_info]).unwrap();
        let tbs = sequence(&[
            enc(&1i64).unwrap(),
            seal,
            enc(&bits(b"20250301120000").unwrap()).unwrap(),
            enc(&octets(&[9u8; 32]).unwrap()).unwrap(),
            enc(&ia5("/Doc_0/Signs/Sign_0/Signature.xml").unwrap()).unwrap(),
            enc(&octets(b"signer").unwrap()).unwrap(),
            enc(&ia5("SM2").unwrap()).unwrap(),
        ])
        .unwrap();
        let signature = sequence(&[tbs.clone(), enc(&bits(b"rs").unwrap()).unwrap()]).unwrap();
        let read = read_signature(&signature).unwrap();
        assert_eq!(read.version, 1);
        assert_eq!(read.tbs, tbs);
        assert_eq!(read.cert, b"signer");
        assert!(is_sm2(&read.algorithm));
        assert_eq!(read.signature, b"rs");
        assert_eq!(read.data_hash, vec![9u8; 32]);
        assert_eq!(read.time, Some(1_740_830_400));
        assert_eq!(read.seal.version, 1);
        assert_eq!(read.seal.name, "旧式印章");
        assert_eq!(read.seal.maker_cert, b"maker");
        assert_eq!(read.seal.maker_signed.len(), 2);
        assert_eq!(read.seal.maker_signed[0], info);
        assert_eq!(read.seal.valid_end, Some(1_893_456_000));
    }

    #[test]
    fn hostile_bytes_are_refused_not_panicked_on() {
        for input in [
            &b""[..],
            b"\x30",
            b"\x30\x80\x00\x00",
            b"\x30\x03\x02\x01\x04",
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(read_seal(input).is_err());
            assert!(read_signature(input).is_err());
        }
    }
}
