//! API keys (ARCHITECTURE.md §9). A token is `trustd_<id>_<secret>`: the id (16 hex digits) finds the
//! row, the secret carries 256 random bits. Only SHA-256(token) is stored, and the comparison
//! is constant-time. The bootstrap admin key (which `TRUSTD_ADMIN_TOKEN` may set to any string
//! of at least 32 characters) has the fixed id `bootstrap-admin`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::auth::{Caller, Role};
use crate::context::Context;
use crate::error::ServiceError;
use crate::log::{Event, EventType};
use crate::store::{ApiKeyRecord, Change, StoreError, WriteSet};

pub const TOKEN_PREFIX: &str = "trustd_";
pub const BOOTSTRAP_ADMIN_ID: &str = "bootstrap-admin";

/// A freshly made token: shown once, then dropped (and zeroed).
pub struct NewToken {
    pub id: String,
    pub token: Zeroizing<String>,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

pub fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// Makes a new random token with a fresh id.
pub fn generate() -> Result<NewToken, ServiceError> {
    let rng = SystemRandom::new();
    let mut id = [0u8; 8];
    let mut secret = Zeroizing::new([0u8; 32]);
    rng.fill(&mut id)
        .and_then(|_| rng.fill(secret.as_mut()))
        .map_err(|_| ServiceError::Pki(crate::pki::PkiError::KeyGeneration))?;
    let id = hex::encode(id);
    let token = Zeroizing::new(format!(
        "{TOKEN_PREFIX}{id}_{}",
        URL_SAFE_NO_PAD.encode(secret.as_ref())
    ));
    Ok(NewToken { id, token })
}

/// The key id a presented token claims: its own for `trustd_<id>_<secret>` tokens, else
/// [`BOOTSTRAP_ADMIN_ID`] (a `TRUSTD_ADMIN_TOKEN` chosen by the operator).
pub fn claimed_id(token: &str) -> &str {
    token
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
        .filter(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or(BOOTSTRAP_ADMIN_ID)
}

/// Why a token was not accepted (all answered 401; the reason goes to the log only).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("unknown key")]
    Unknown,
    #[error("revoked key")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Finds the caller a bearer token stands for.
pub async fn authenticate(ctx: &Context, token: &str) -> Result<Caller, AuthError> {
    let presented = token_hash(token);
    let id = claimed_id(token).to_owned();
    // From memory when this instance has the key: a revocation here forgets it at once, one on
    // another instance within a quarter of a second (`startup::watch_views`).
    let record = match ctx.api_keys.get(&id) {
        Some(record) => record,
        None => {
            let epoch = ctx.api_keys.epoch();
            let Some(record) = ctx.store.api_key(&id).await? else {
                return Err(AuthError::Unknown);
            };
            ctx.api_keys.keep(epoch, id, record.clone());
            record
        }
    };
    if !bool::from(record.token_hash.as_slice().ct_eq(presented.as_slice())) {
        return Err(AuthError::Unknown);
    }
    if record.revoked_at.is_some() {
        return Err(AuthError::Revoked);
    }
    let id = record.id.clone();
    Caller::from_key(record.id, record.role, record.department_code).ok_or_else(|| {
        AuthError::Store(StoreError::Corrupt(format!(
            "api key {id} is an operator key without a department"
        )))
    })
}

/// The event recording a new key (never its token).
pub fn created_event(
    record: &ApiKeyRecord,
    actor: Option<&str>,
    now: time::OffsetDateTime,
) -> Event {
    let mut event = Event::new(EventType::ApiKeyCreated, now, record.id.as_str())
        .actor(actor)
        .data("role", record.role.as_str());
    if let Some(d) = &record.department_code {
        event = event.department(d.as_str());
    }
    event
}

/// Creates an API key (admin only). Operators need a department; auditors may have one.
pub async fn create(
    ctx: &Context,
    caller: &Caller,
    role: &str,
    department_code: Option<&str>,
    label: Option<&str>,
) -> Result<(ApiKeyRecord, NewToken, u64), ServiceError> {
    let role = Role::parse(role).ok_or_else(|| {
        ServiceError::invalid("role", "must be admin, operator, auditor or monitor")
    })?;
    match (role, department_code) {
        (Role::Operator, None) => {
            return Err(ServiceError::invalid(
                "department_code",
                "is required for an operator key",
            ))
        }
        (Role::Admin, Some(_)) => {
            return Err(ServiceError::invalid(
                "department_code",
                "an admin key is not bound to a department",
            ))
        }
        (Role::Monitor, Some(_)) => {
            return Err(ServiceError::invalid(
                "department_code",
                "a monitor key is not bound to a department",
            ))
        }
        _ => {}
    }
    if let Some(label) = label {
        if label.chars().count() > 200 || label.chars().any(char::is_control) {
            return Err(ServiceError::invalid(
                "label",
                "must be at most 200 characters, no control characters",
            ));
        }
    }
    caller.require_admin()?;
    if let Some(code) = department_code {
        if ctx.store.department(code).await?.is_none() {
            return Err(ServiceError::invalid(
                "department_code",
                "no such department",
            ));
        }
    }
    let now = ctx.clock.now();
    let token = generate()?;
    let record = ApiKeyRecord {
        id: token.id.clone(),
        token_hash: token_hash(&token.token),
        role,
        department_code: department_code.map(str::to_owned),
        label: label.map(str::to_owned),
        created_at: now.unix_timestamp(),
        revoked_at: None,
    };
    let writes = WriteSet::new()
        .change(Change::InsertApiKey(record.clone()))
        .event(created_event(&record, Some(caller.key_id()), now).to_new_event());
    let indices = ctx.store.apply(writes).await?;
    Ok((record, token, indices.first().copied().unwrap_or_default()))
}

/// Revokes an API key (admin only). Returns the revocation time and the log index.
pub async fn revoke(ctx: &Context, caller: &Caller, id: &str) -> Result<(i64, u64), ServiceError> {
    caller.require_admin()?;
    let record = ctx
        .store
        .api_key(id)
        .await?
        .ok_or(ServiceError::NotFound("API key"))?;
    if record.revoked_at.is_some() {
        return Err(ServiceError::Conflict(
            "the API key is revoked already".into(),
        ));
    }
    let now = ctx.clock.now();
    let mut event = Event::new(EventType::ApiKeyRevoked, now, id).actor(Some(caller.key_id()));
    if let Some(d) = &record.department_code {
        event = event.department(d.as_str());
    }
    let writes = WriteSet::new()
        .change(Change::RevokeApiKey {
            id: id.to_owned(),
            at: now.unix_timestamp(),
        })
        .event(event.to_new_event());
    let applied = ctx.store.apply(writes).await;
    ctx.api_keys.forget(&id.to_owned());
    let indices = applied.map_err(|e| match e {
        StoreError::NotFound => ServiceError::Conflict("the API key is revoked already".into()),
        other => other.into(),
    })?;
    Ok((
        now.unix_timestamp(),
        indices.first().copied().unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_prefixed() {
        let t = generate().unwrap();
        assert!(t.token.starts_with("trustd_"));
        assert_eq!(claimed_id(&t.token), t.id);
        // 7 prefix + 16 id + 1 + 43 base64url characters of 32 random bytes.
        assert_eq!(t.token.len(), 7 + 16 + 1 + 43);
        assert!(!format!("{t:?}").contains(t.token.as_str()));
    }

    #[test]
    fn foreign_tokens_claim_the_bootstrap_id() {
        assert_eq!(
            claimed_id("a-token-from-the-environment-0123456789"),
            BOOTSTRAP_ADMIN_ID
        );
        assert_eq!(claimed_id("trustd_xyz_abc"), BOOTSTRAP_ADMIN_ID);
    }
}
