//! The one PDF reader for untrusted input, used by sealing and by verification: raw-byte
//! scanning (header, xref chain, trailer, streams' declared lengths: [`scan`]), loading with
//! limits into a [`CheckedPdf`]-style `lopdf::Document` ([`load`]), queries (pages with inherited
//! attributes, AcroForm and signature fields, DocMDP, DSS: [`query`]) and the incremental-update
//! writer ([`write`]).
//!
//! Untrusted input is checked before lopdf sees it, because lopdf is lenient where a sealer
//! or a verifier must not be: nesting depth is bounded by a scan (lopdf's parser recurses), the
//! file must end with `startxref`/`%%EOF`, a trailer `/Encrypt` is refused (lopdf decrypts
//! owner-password files silently), a file whose cross-reference data lopdf had to repair is
//! refused (an update appended to it would not verify anywhere), and every decompression of one
//! document draws on one budget.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]

pub mod cursor;
pub mod load;
pub mod partial;
pub mod query;
pub mod scan;
pub mod sparse;
pub mod write;

pub use load::load_checked;
pub use scan::precheck;

/// Nesting of dictionaries and arrays allowed (ISO 32000 Annex C suggests 28 for arrays).
pub(crate) const MAX_NESTING: usize = 64;
/// Most pages walked in the page tree, and the depth of the tree.
pub(crate) const MAX_PAGES: usize = 100_000;
pub(crate) const MAX_TREE_DEPTH: usize = 64;
/// Largest stream lopdf may decompress while loading (object and xref streams).
pub(crate) const MAX_DECOMPRESSED: usize = 256 * 1024 * 1024;
/// Most cross-reference sections in the /Prev chain.
pub(crate) const MAX_XREF_SECTIONS: usize = 10_000;
/// Default of [`PdfLimits::max_objects`].
pub const MAX_OBJECTS: usize = 2_000_000;
/// Default of [`PdfLimits::max_signatures`].
pub const MAX_SIGNATURES: usize = 64;

/// Bounds on one untrusted PDF, from the settings (`TRUSTD_MAX_PDF_OBJECTS`,
/// `TRUSTD_MAX_PDF_SIGNATURES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfLimits {
    /// Most objects a PDF may declare (trailer /Size, checked before it is loaded) or hold.
    pub max_objects: usize,
    /// Most signatures verified in one PDF; a PDF with more is refused.
    pub max_signatures: usize,
}

impl Default for PdfLimits {
    fn default() -> Self {
        PdfLimits {
            max_objects: MAX_OBJECTS,
            max_signatures: MAX_SIGNATURES,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("{0}")]
    Malformed(String),
    #[error("the PDF is encrypted; decrypt it before sealing")]
    Encrypted,
    #[error("the PDF is certified with no changes allowed (DocMDP P=1): it cannot be sealed")]
    CertifiedNoChanges,
    #[error("{0}")]
    BadOption(String),
    #[error("signing failed")]
    Signing,
    /// The request was dropped (timed out, or its client went away): the work stopped.
    #[error("the request was cancelled")]
    Cancelled,
}

pub(crate) fn too_many_objects(max: usize) -> PdfError {
    malformed(format!("the PDF has more than {max} objects"))
}

pub(crate) fn malformed(what: impl Into<String>) -> PdfError {
    PdfError::Malformed(what.into())
}
