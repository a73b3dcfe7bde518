//! Selective disclosure for licences: SD-JWT (RFC 9901).
//!
//! The issuer-signed JWT carries every personal claim (the holder's name and code, each face
//! field) only as a salted digest in an `_sd` array; each claim's disclosure
//! `base64url([salt, name, value])` travels beside it:
//! `<JWT>~<disclosure>~…~<disclosure>~` (no key-binding JWT: licences carry no holder key).
//! The holder (or the issuing department on the holder's behalf) drops the disclosures a
//! clerk does not need; a verifier checks each remaining one against the digests.
//!
//! Hand-written: no maintained Rust crate implements RFC 9901 on top of the ES256 signer and
//! `x5c` chain the licence token already uses (the `sd-jwt-rs` family signs with its own key
//! types); the format is small and is checked against the Python reference implementation in
//! `scripts/interop.sh`.

use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};

/// `typ` of the issuer-signed JWT of a licence SD-JWT.
pub const SD_TOKEN_TYPE: &str = "licence+sd-jwt";
/// The only digest algorithm used and accepted.
const SD_ALG: &str = "sha-256";
/// Most disclosures accepted in one presentation.
pub const MAX_DISCLOSURES: usize = 256;

/// Why a presentation's disclosures cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdError {
    #[error("a disclosure is not base64url of a JSON array [salt, name, value]")]
    Malformed,
    #[error("disclosures of array elements are not used by licences")]
    ArrayElement,
    #[error("the digest algorithm is not sha-256")]
    Algorithm,
    #[error("a disclosure's digest is not in the signed token (altered or from another token)")]
    Unreferenced,
    #[error("a disclosure or digest occurs twice")]
    Duplicate,
    #[error("a disclosure names a reserved or already present claim")]
    ClaimName,
    #[error("an _sd member is not an array of digest strings")]
    SdShape,
    #[error("too many disclosures (at most {MAX_DISCLOSURES})")]
    TooMany,
    #[error("a key-binding JWT was given, but licences carry no holder key to check it with")]
    KeyBinding,
}

/// An SD-JWT split at its `~`s (nothing verified).
#[derive(Debug, Clone)]
pub struct Parts<'a> {
    pub jwt: &'a str,
    pub disclosures: Vec<&'a str>,
}

/// Splits `<JWT>~<D>~…~<D>~[<KB-JWT>]`; a key-binding JWT is refused.
pub fn split(sd_jwt: &str) -> Result<Parts<'_>, SdError> {
    let mut pieces: Vec<&str> = sd_jwt.trim().split('~').collect();
    let kb = pieces.pop().unwrap_or_default();
    if !kb.is_empty() {
        return Err(SdError::KeyBinding);
    }
    if pieces.len() > MAX_DISCLOSURES + 1 {
        return Err(SdError::TooMany);
    }
    let mut iter = pieces.into_iter();
    let jwt = iter.next().unwrap_or_default();
    let disclosures: Vec<&str> = iter.collect();
    if disclosures.iter().any(|d| d.is_empty()) {
        return Err(SdError::Malformed);
    }
    Ok(Parts { jwt, disclosures })
}

/// The digest a disclosure is referenced by: base64url(SHA-256(ASCII of the disclosure)).
pub fn digest(disclosure: &str) -> String {
    URL_SAFE_NO_PAD
        .encode(ring::digest::digest(&ring::digest::SHA256, disclosure.as_bytes()).as_ref())
}

fn salt(rng: &SystemRandom) -> Result<String, SdError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes).map_err(|_| SdError::Malformed)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Replaces the members `keep(name)` selects of the object at `path` in `payload` by salted
/// digests, returning their disclosures. Adds `_sd_alg` at the top.
pub fn conceal(
    payload: &mut Value,
    path: &[&str],
    select: impl Fn(&str) -> bool,
) -> Result<Vec<String>, SdError> {
    let rng = SystemRandom::new();
    if let Some(top) = payload.as_object_mut() {
        top.insert("_sd_alg".into(), Value::from(SD_ALG));
    }
    let mut target = &mut *payload;
    for key in path {
        target = target.get_mut(*key).ok_or(SdError::SdShape)?;
    }
    let object = target.as_object_mut().ok_or(SdError::SdShape)?;
    let names: Vec<String> = object.keys().filter(|k| select(k)).cloned().collect();
    let mut disclosures = Vec::with_capacity(names.len());
    let mut digests = Vec::with_capacity(names.len());
    for name in names {
        let value = object.remove(&name).unwrap_or(Value::Null);
        let array = Value::Array(vec![Value::from(salt(&rng)?), Value::from(name), value]);
        let encoded =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&array).map_err(|_| SdError::Malformed)?);
        digests.push(digest(&encoded));
        disclosures.push(encoded);
    }
    // The order of the digests must not reveal the order of the claims (RFC 9901 §4.2.4.1).
    digests.sort();
    let mut all: Vec<Value> = match object.remove("_sd") {
        Some(Value::Array(existing)) => existing,
        _ => Vec::new(),
    };
    all.extend(digests.into_iter().map(Value::from));
    object.insert("_sd".into(), Value::Array(all));
    Ok(disclosures)
}

/// A disclosure decoded: (salt is not kept) claim name and value.
struct Decoded {
    name: String,
    value: Value,
    used: bool,
}

/// The payload with every presented disclosure put back in its place (`_sd` and `_sd_alg`
/// removed), and the disclosed claims by dotted path. Strict (RFC 9901 §7.1): every disclosure
/// must be referenced exactly once, no digest may occur twice, no disclosed name may be reserved
/// or clash with a claim in clear.
pub fn reveal(
    payload: &Value,
    disclosures: &[&str],
) -> Result<(Value, Map<String, Value>), SdError> {
    if disclosures.len() > MAX_DISCLOSURES {
        return Err(SdError::TooMany);
    }
    match payload.get("_sd_alg") {
        None => {}
        Some(Value::String(a)) if a == SD_ALG => {}
        Some(_) => return Err(SdError::Algorithm),
    }
    let mut by_digest: HashMap<String, Decoded> = HashMap::with_capacity(disclosures.len());
    for d in disclosures {
        let bytes = URL_SAFE_NO_PAD.decode(d).map_err(|_| SdError::Malformed)?;
        let array: Value = serde_json::from_slice(&bytes).map_err(|_| SdError::Malformed)?;
        let decoded = match array.as_array().map(Vec::as_slice) {
            Some([Value::String(_), Value::String(name), value]) => Decoded {
                name: name.clone(),
                value: value.clone(),
                used: false,
            },
            Some([Value::String(_), _]) => return Err(SdError::ArrayElement),
            _ => return Err(SdError::Malformed),
        };
        if by_digest.insert(digest(d), decoded).is_some() {
            return Err(SdError::Duplicate);
        }
    }
    let mut seen = HashSet::new();
    let mut disclosed = Map::new();
    let mut out = unpack(payload, "", &mut by_digest, &mut seen, &mut disclosed)?;
    if by_digest.values().any(|d| !d.used) {
        return Err(SdError::Unreferenced);
    }
    if let Some(top) = out.as_object_mut() {
        top.remove("_sd_alg");
    }
    Ok((out, disclosed))
}

fn unpack(
    value: &Value,
    path: &str,
    by_digest: &mut HashMap<String, Decoded>,
    seen: &mut HashSet<String>,
    disclosed: &mut Map<String, Value>,
) -> Result<Value, SdError> {
    match value {
        Value::Object(object) => {
            let mut out = Map::new();
            for (k, v) in object {
                if k == "_sd" {
                    continue;
                }
                let child = join(path, k);
                out.insert(k.clone(), unpack(v, &child, by_digest, seen, disclosed)?);
            }
            if let Some(sd) = object.get("_sd") {
                let digests = sd.as_array().ok_or(SdError::SdShape)?;
                for d in digests {
                    let d = d.as_str().ok_or(SdError::SdShape)?;
                    if !seen.insert(d.to_owned()) {
                        return Err(SdError::Duplicate);
                    }
                    let Some(found) = by_digest.get_mut(d) else {
                        continue; // not disclosed (or a decoy)
                    };
                    if found.name == "_sd" || found.name == "..." || out.contains_key(&found.name) {
                        return Err(SdError::ClaimName);
                    }
                    found.used = true;
                    let (name, inner) = (found.name.clone(), found.value.clone());
                    let child = join(path, &name);
                    let value = unpack(&inner, &child, by_digest, seen, disclosed)?;
                    disclosed.insert(child, value.clone());
                    out.insert(name, value);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                // `{"...": digest}`: an undisclosed array element (never issued for licences).
                let hidden = item
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .and_then(|o| o.get("..."))
                    .and_then(Value::as_str);
                match hidden {
                    Some(d) => {
                        if !seen.insert(d.to_owned()) {
                            return Err(SdError::Duplicate);
                        }
                    }
                    None => out.push(unpack(item, path, by_digest, seen, disclosed)?),
                }
            }
            Ok(Value::Array(out))
        }
        other => Ok(other.clone()),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The claim paths the disclosures of `payload` reveal, each with its disclosure.
pub fn paths(payload: &Value, disclosures: &[&str]) -> Result<Vec<(String, String)>, SdError> {
    let mut out = Vec::with_capacity(disclosures.len());
    for d in disclosures {
        let (_, one) = reveal(payload, &[d])?;
        let path = one.keys().next().cloned().ok_or(SdError::Unreferenced)?;
        out.push((path, (*d).to_owned()));
    }
    Ok(out)
}

/// `<JWT>~<D>~…~` from the parts.
pub fn join_parts(jwt: &str, disclosures: &[&str]) -> String {
    let mut out = String::with_capacity(
        jwt.len() + disclosures.iter().map(|d| d.len() + 1).sum::<usize>() + 1,
    );
    out.push_str(jwt);
    out.push('~');
    for d in disclosures {
        out.push_str(d);
        out.push('~');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn licence() -> Value {
        json!({
            "iss": "X",
            "licence": {
                "number": "1",
                "holder": {"name": "张三", "code_type": "111", "code": "11010519491231002X"},
                "face": {"address": "福州", "scope": "零售", "phone": "123"}
            }
        })
    }

    fn issued() -> (Value, Vec<String>) {
        let mut p = licence();
        let mut ds = conceal(&mut p, &["licence", "holder"], |k| k != "code_type").unwrap();
        ds.extend(conceal(&mut p, &["licence", "face"], |_| true).unwrap());
        (p, ds)
    }

    #[test]
    fn conceals_and_reveals_selected_claims() {
        let (p, ds) = issued();
        let text = p.to_string();
        assert!(!text.contains("张三") && !text.contains("1101") && !text.contains("福州"));
        assert_eq!(p["licence"]["holder"]["code_type"], "111");
        assert_eq!(p["licence"]["holder"]["_sd"].as_array().unwrap().len(), 2);
        // Everything disclosed: the original payload back.
        let all: Vec<&str> = ds.iter().map(String::as_str).collect();
        let (full, disclosed) = reveal(&p, &all).unwrap();
        assert_eq!(full, licence());
        assert_eq!(disclosed.len(), 5);
        // Two of five.
        let by_path = paths(&p, &all).unwrap();
        let pick: Vec<&str> = by_path
            .iter()
            .filter(|(path, _)| path == "licence.holder.name" || path == "licence.face.scope")
            .map(|(_, d)| d.as_str())
            .collect();
        let (partial, disclosed) = reveal(&p, &pick).unwrap();
        assert_eq!(
            disclosed.keys().collect::<Vec<_>>(),
            ["licence.face.scope", "licence.holder.name"]
        );
        assert_eq!(
            partial["licence"]["holder"],
            json!({"code_type": "111", "name": "张三"})
        );
        assert_eq!(partial["licence"]["face"], json!({"scope": "零售"}));
        // None.
        let (bare, disclosed) = reveal(&p, &[]).unwrap();
        assert!(disclosed.is_empty());
        assert_eq!(bare["licence"]["face"], json!({}));
    }

    #[test]
    fn refuses_altered_foreign_and_repeated_disclosures() {
        let (p, ds) = issued();
        // A disclosure re-encoded with another value: its digest is not in the token.
        let forged =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json!(["c2FsdA", "name", "李四"])).unwrap());
        assert_eq!(reveal(&p, &[&forged]).unwrap_err(), SdError::Unreferenced);
        // A flipped character.
        let mut bad = ds[0].clone().into_bytes();
        bad[3] = if bad[3] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(reveal(&p, &[&bad]).is_err());
        assert_eq!(
            reveal(&p, &[&ds[0], &ds[0]]).unwrap_err(),
            SdError::Duplicate
        );
        assert_eq!(reveal(&p, &["!!"]).unwrap_err(), SdError::Malformed);
        let element = URL_SAFE_NO_PAD.encode(br#"["salt", "x"]"#);
        assert_eq!(reveal(&p, &[&element]).unwrap_err(), SdError::ArrayElement);
        // A disclosure whose name is already in clear.
        let mut clash = p.clone();
        let dup = URL_SAFE_NO_PAD.encode(br#"["salt","code_type","999"]"#);
        clash["licence"]["holder"]["_sd"]
            .as_array_mut()
            .unwrap()
            .push(Value::from(digest(&dup)));
        assert_eq!(reveal(&clash, &[&dup]).unwrap_err(), SdError::ClaimName);
        // A digest listed twice.
        let mut twice = p.clone();
        let first = twice["licence"]["face"]["_sd"][0].clone();
        twice["licence"]["face"]["_sd"]
            .as_array_mut()
            .unwrap()
            .push(first);
        assert_eq!(reveal(&twice, &[]).unwrap_err(), SdError::Duplicate);
        let mut alg = p.clone();
        alg["_sd_alg"] = Value::from("md5");
        assert_eq!(reveal(&alg, &[]).unwrap_err(), SdError::Algorithm);
    }

    #[test]
    fn splits_presentations() {
        let p = split("h.p.s~d1~d2~").unwrap();
        assert_eq!((p.jwt, p.disclosures), ("h.p.s", vec!["d1", "d2"]));
        assert_eq!(split("h.p.s~").unwrap().disclosures.len(), 0);
        assert_eq!(split("h.p.s~d1~kb.jwt.x").unwrap_err(), SdError::KeyBinding);
        assert_eq!(split("h.p.s~~d~").unwrap_err(), SdError::Malformed);
        assert_eq!(join_parts("h.p.s", &["a", "b"]), "h.p.s~a~b~");
        assert_eq!(join_parts("h.p.s", &[]), "h.p.s~");
    }
}
