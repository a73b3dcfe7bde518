//! What every service needs: the store, the PKI, the log, the clock and the runtime settings.

use std::sync::Arc;

use crate::cache::ImmutableCache;
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::log::TransparencyLog;
use crate::pii::PiiHasher;
use crate::pki::Pki;
use crate::store::Repository;
use crate::store::{DepartmentRecord, LicenceTypeRecord};

pub struct Context {
    pub store: Arc<dyn Repository>,
    pub pki: Arc<Pki>,
    pub log: Arc<TransparencyLog>,
    pub clock: Arc<dyn Clock>,
    pub pii: PiiHasher,
    pub tsa: std::sync::Arc<crate::pki::tsa::CurrentTsa>,
    /// The SM2 TSA (under the SM2 root), for GB/T 38540 signatures.
    pub tsa_sm2: std::sync::Arc<crate::pki::tsa::CurrentTsa>,
    /// Facts that never change once written.
    pub departments: ImmutableCache<String, DepartmentRecord>,
    pub licence_types: ImmutableCache<String, LicenceTypeRecord>,
    pub issuance_index: ImmutableCache<String, u64>,
    /// API keys by id, kept current by invalidation (`admin::api_keys::authenticate`).
    pub api_keys: crate::cache::ViewCache<String, crate::store::ApiKeyRecord>,
    /// The public view of licences, kept current by invalidation (`licence::public_view`).
    pub licence_views: crate::cache::ViewCache<String, Arc<crate::store::LicenceView>>,
    /// What stamping needs of each seal (`seal::StampKit`), kept current by invalidation. Its
    /// type is erased here because the context sits below the services that define it.
    pub seal_kits: crate::cache::ViewCache<String, Arc<dyn std::any::Any + Send + Sync>>,
    pub licence_signers: crate::pki::signers::SignerCache,
    pub public_url: String,
    pub max_upload_bytes: usize,
    /// Largest PDF the public (no API key) may send for verification.
    pub max_public_verify_bytes: usize,
    /// Slots for stamping and verification.
    pub documents: crate::work::Slots,
    pub pdf_limits: crate::pdf::PdfLimits,
    pub ofd_limits: crate::ofd::OfdLimits,
    /// When `/readyz` says no.
    pub readiness: Readiness,
}

/// Thresholds of `/readyz` (`TRUSTD_READY_*`).
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    /// Entries may wait this long for a checkpoint.
    pub max_integration_seconds: i64,
    /// A CA or TSA certificate must stay valid this long.
    pub min_validity_seconds: i64,
}

impl Context {
    pub async fn department(&self, code: &str) -> Result<Option<DepartmentRecord>, ServiceError> {
        let store = self.store.clone();
        self.departments
            .get_or_load(
                &code.to_owned(),
                || async move { store.department(code).await },
            )
            .await
            .map_err(ServiceError::from)
    }

    pub async fn licence_type(
        &self,
        type_code: &str,
    ) -> Result<Option<LicenceTypeRecord>, ServiceError> {
        let store = self.store.clone();
        self.licence_types
            .get_or_load(&type_code.to_owned(), || async move {
                store.licence_type(type_code).await
            })
            .await
            .map_err(ServiceError::from)
    }

    /// Log index of a licence's issuance entry.
    pub async fn issuance_index(&self, identifier: &str) -> Result<Option<u64>, ServiceError> {
        let store = self.store.clone();
        self.issuance_index
            .get_or_load(&identifier.to_owned(), || async move {
                store
                    .event_index(crate::log::EventType::LicenceIssued.as_str(), identifier)
                    .await
            })
            .await
            .map_err(ServiceError::from)
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}
