//! What every service needs: the store, the PKI, the log, the clock and the runtime settings.

use std::sync::Arc;

use crate::clock::Clock;
use crate::licence::{PiiHasher, Signers};
use crate::log::TransparencyLog;
use crate::pki::Pki;
use crate::store::Repository;

pub struct Context {
    pub store: Arc<dyn Repository>,
    pub pki: Arc<Pki>,
    pub log: Arc<TransparencyLog>,
    pub clock: Arc<dyn Clock>,
    pub pii: PiiHasher,
    pub licence_signers: Signers,
    pub public_url: String,
    pub max_upload_bytes: usize,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}
