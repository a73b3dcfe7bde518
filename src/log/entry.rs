//! Issuance log entries (ARCHITECTURE.md §8).
//!
//! An entry is canonical JSON: an object with the members `v` (format version, 1), `type`,
//! `time` (RFC 3339, UTC, seconds), `department` (credit code or null), `actor` (API key id or
//! null for the service itself), `subject` and `data`; object members sorted by key (byte
//! order) at every depth, no white space, strings escaped as serde_json escapes them, numbers
//! only as integers. These exact bytes are what the Merkle tree hashes (leaf = SHA-256(0x00 ‖
//! entry)). Personal data never appears in clear: callers put salted hashes in `data`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::merkle::leaf_hash;
use crate::store::NewEvent;

/// The kinds of trust-changing event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    RootCreated,
    DepartmentCreated,
    CertificateIssued,
    CertificateRevoked,
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeyReplaced,
    LicenceTypeRegistered,
    LicenceIssued,
    LicenceSuspended,
    LicenceReinstated,
    LicenceRevoked,
    LicenceRead,
    LicenceHolderQuery,
    SealCreated,
    SealAppearanceSet,
    SealAppearanceApproved,
    /// A seal's GB/T 38540 seal (SESeal) was made by its department's SM2 CA.
    SealEslIssued,
    DocumentStamped,
    TrustAnchorAdded,
    TrustAnchorDisabled,
    TrustAnchorEnabled,
    TrustAnchorDeleted,
    /// Every stored private key was encrypted again under a new master key.
    KeysRekeyed,
    /// A department got a new CA while its previous one stays valid (renewal).
    DepartmentCaRenewed,
    /// A seal got a new certificate under its department's renewed CA.
    SealRecertified,
    /// The log's signing key and origin change: the new shard's origin and key, committed
    /// under the old key before the new one signs.
    LogRotated,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        EventType::RootCreated,
        EventType::DepartmentCreated,
        EventType::CertificateIssued,
        EventType::CertificateRevoked,
        EventType::ApiKeyCreated,
        EventType::ApiKeyRevoked,
        EventType::ApiKeyReplaced,
        EventType::LicenceTypeRegistered,
        EventType::LicenceIssued,
        EventType::LicenceSuspended,
        EventType::LicenceReinstated,
        EventType::LicenceRevoked,
        EventType::LicenceRead,
        EventType::LicenceHolderQuery,
        EventType::SealCreated,
        EventType::SealAppearanceSet,
        EventType::SealAppearanceApproved,
        EventType::SealEslIssued,
        EventType::DocumentStamped,
        EventType::TrustAnchorAdded,
        EventType::TrustAnchorDisabled,
        EventType::TrustAnchorEnabled,
        EventType::TrustAnchorDeleted,
        EventType::KeysRekeyed,
        EventType::DepartmentCaRenewed,
        EventType::SealRecertified,
        EventType::LogRotated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RootCreated => "root.created",
            EventType::DepartmentCreated => "department.created",
            EventType::CertificateIssued => "certificate.issued",
            EventType::CertificateRevoked => "certificate.revoked",
            EventType::ApiKeyCreated => "api_key.created",
            EventType::ApiKeyRevoked => "api_key.revoked",
            EventType::ApiKeyReplaced => "api_key.replaced",
            EventType::LicenceTypeRegistered => "licence_type.registered",
            EventType::LicenceIssued => "licence.issued",
            EventType::LicenceSuspended => "licence.suspended",
            EventType::LicenceReinstated => "licence.reinstated",
            EventType::LicenceRevoked => "licence.revoked",
            EventType::LicenceRead => "licence.read",
            EventType::LicenceHolderQuery => "licence.holder_query",
            EventType::SealCreated => "seal.created",
            EventType::SealAppearanceSet => "seal.appearance_set",
            EventType::SealAppearanceApproved => "seal.appearance_approved",
            EventType::SealEslIssued => "seal.esl_issued",
            EventType::DocumentStamped => "document.stamped",
            EventType::TrustAnchorAdded => "trust_anchor.added",
            EventType::TrustAnchorDisabled => "trust_anchor.disabled",
            EventType::TrustAnchorEnabled => "trust_anchor.enabled",
            EventType::TrustAnchorDeleted => "trust_anchor.deleted",
            EventType::KeysRekeyed => "keys.rekeyed",
            EventType::DepartmentCaRenewed => "department.ca_renewed",
            EventType::SealRecertified => "seal.recertified",
            EventType::LogRotated => "log.rotated",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

/// Data members that hold a pseudonym of a person (keyed hashes of an identity number or a
/// name). Licences issued since holder commitments log `holder_commitment` instead, which
/// differs for every licence.
const PSEUDONYM_FIELDS: &[&str] = &["holder_hash", "holder_name_hash"];

/// Entry types anyone may read in a proof of logging found by its index: they name no person
/// and no licence (licence identifiers are unguessable on purpose, and API key labels and
/// revocation reasons are free text).
const PUBLIC_TYPES: &[EventType] = &[
    EventType::RootCreated,
    EventType::DepartmentCreated,
    EventType::CertificateIssued,
    EventType::LicenceTypeRegistered,
    EventType::SealCreated,
    EventType::SealEslIssued,
    EventType::DocumentStamped,
    EventType::DepartmentCaRenewed,
    EventType::SealRecertified,
    EventType::LogRotated,
];

/// Whether an entry may go in a public proof of logging: one of [`PUBLIC_TYPES`], or the
/// issuance of the licence `licence` (asked for by its identifier, so the identifier is no
/// news), and in both cases no pseudonym of a person.
pub fn is_public(entry: &[u8], licence: Option<&str>) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(entry) else {
        return false;
    };
    let pseudonym = value["data"]
        .as_object()
        .is_none_or(|d| PSEUDONYM_FIELDS.iter().any(|f| d.contains_key(*f)));
    let public_type = PUBLIC_TYPES.iter().any(|t| value["type"] == t.as_str());
    let own_licence = value["type"] == EventType::LicenceIssued.as_str()
        && licence.is_some_and(|id| value["subject"] == id);
    !pseudonym && (public_type || own_licence)
}

/// An event before it is encoded.
#[derive(Debug, Clone)]
pub struct Event {
    pub event_type: EventType,
    pub time: OffsetDateTime,
    pub department: Option<String>,
    pub actor: Option<String>,
    pub subject: String,
    pub data: BTreeMap<String, Value>,
}

impl Event {
    pub fn new(event_type: EventType, time: OffsetDateTime, subject: impl Into<String>) -> Self {
        Event {
            event_type,
            time,
            department: None,
            actor: None,
            subject: subject.into(),
            data: BTreeMap::new(),
        }
    }

    pub fn department(mut self, code: impl Into<String>) -> Self {
        self.department = Some(code.into());
        self
    }

    pub fn actor(mut self, actor: Option<&str>) -> Self {
        self.actor = actor.map(str::to_owned);
        self
    }

    pub fn data(mut self, key: &str, value: impl Serialize) -> Self {
        // Serialising plain data (strings, integers, maps of them) into a Value cannot fail.
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.data.insert(key.to_owned(), value);
        self
    }

    /// The canonical entry bytes.
    pub fn encode(&self) -> Vec<u8> {
        let time = self
            .time
            .replace_nanosecond(0)
            .unwrap_or(self.time)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut root = serde_json::Map::new();
        root.insert("v".into(), Value::from(1));
        root.insert("type".into(), Value::from(self.event_type.as_str()));
        root.insert("time".into(), Value::from(time));
        root.insert(
            "department".into(),
            self.department.clone().map_or(Value::Null, Value::from),
        );
        root.insert(
            "actor".into(),
            self.actor.clone().map_or(Value::Null, Value::from),
        );
        root.insert("subject".into(), Value::from(self.subject.clone()));
        root.insert(
            "data".into(),
            Value::Object(self.data.clone().into_iter().collect()),
        );
        canonical_json(&Value::Object(root))
    }

    /// The store row for this event.
    pub fn to_new_event(&self) -> NewEvent {
        let entry = self.encode();
        NewEvent {
            leaf_hash: leaf_hash(&entry),
            entry,
            event_type: self.event_type.as_str().to_owned(),
            department_code: self.department.clone(),
            subject: self.subject.clone(),
            created_at: self.time.unix_timestamp(),
        }
    }
}

/// Serialises with object members sorted by key at every depth, whatever map type serde_json
/// was built with.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // A string always serialises.
                out.extend(serde_json::to_vec(k).unwrap_or_default());
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        other => out.extend(serde_json::to_vec(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_entries_name_no_person() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let stamped = Event::new(EventType::DocumentStamped, t, "seal").data("output_sha256", "ab");
        assert!(is_public(&stamped.encode(), None));
        // A licence's issuance only to whoever names the licence.
        let issued = Event::new(EventType::LicenceIssued, t, "L1").data("holder_commitment", "cd");
        assert!(is_public(&issued.encode(), Some("L1")));
        assert!(!is_public(&issued.encode(), None));
        assert!(!is_public(&issued.encode(), Some("L2")));
        let old = Event::new(EventType::LicenceIssued, t, "L1").data("holder_hash", "ef");
        assert!(!is_public(&old.encode(), Some("L1")));
        for private in [
            EventType::LicenceRead,
            EventType::LicenceRevoked,
            EventType::ApiKeyCreated,
        ] {
            let e = Event::new(private, t, "L1").data("purpose", "核验");
            assert!(!is_public(&e.encode(), Some("L1")), "{private:?}");
        }
        assert!(!is_public(b"not json", None));
    }

    #[test]
    fn canonical_form_is_sorted_and_compact() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let e = Event::new(EventType::DepartmentCreated, t, "91350100M000100Y43")
            .department("91350100M000100Y43")
            .data("z", 1)
            .data(
                "a",
                serde_json::json!({"y": "b", "x": [2, {"d": 1, "c": 0}]}),
            );
        assert_eq!(
            String::from_utf8(e.encode()).unwrap(),
            r#"{"actor":null,"data":{"a":{"x":[2,{"c":0,"d":1}],"y":"b"},"z":1},"department":"91350100M000100Y43","subject":"91350100M000100Y43","time":"2023-11-14T22:13:20Z","type":"department.created","v":1}"#
        );
    }

    #[test]
    fn event_types_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
        }
    }
}
