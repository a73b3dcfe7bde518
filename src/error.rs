//! Errors of the domain services. The HTTP layer maps each variant to a status in one place
//! (`http::problem`); internal variants keep their detail for the log only.

use crate::log::LogError;
use crate::pdf::PdfError;
use crate::pki::PkiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input that fails validation; `field` names the offending JSON field or parameter.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The resource does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state (duplicate, already revoked, …).
    #[error("{0}")]
    Conflict(String),
    /// The caller is authenticated but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A submitted document that cannot be processed; `kind` names the problem type.
    #[error("{detail}")]
    Document { kind: &'static str, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("background task failed")]
    Join,
    /// Every slot for document work is taken; try again shortly.
    #[error("the service is busy with other documents; try again shortly")]
    Busy,
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// How an OFD package the reader refuses is answered.
impl From<crate::ofd::OfdError> for ServiceError {
    fn from(e: crate::ofd::OfdError) -> ServiceError {
        let kind = match e {
            crate::ofd::OfdError::Encrypted(_) => "encrypted-ofd",
            _ => "malformed-ofd",
        };
        ServiceError::Document {
            kind,
            detail: e.to_string(),
        }
    }
}

/// How a document the reader refuses is answered.
impl From<PdfError> for ServiceError {
    fn from(e: PdfError) -> ServiceError {
        match e {
            PdfError::Malformed(detail) => ServiceError::Document {
                kind: "malformed-pdf",
                detail,
            },
            PdfError::Encrypted => ServiceError::Document {
                kind: "encrypted-pdf",
                detail: e.to_string(),
            },
            PdfError::CertifiedNoChanges => ServiceError::Document {
                kind: "certified-no-changes",
                detail: e.to_string(),
            },
            PdfError::BadOption(detail) => ServiceError::invalid("page", detail),
            PdfError::Signing => ServiceError::Pki(crate::pki::PkiError::Signing),
            PdfError::Cancelled => ServiceError::Busy,
        }
    }
}
