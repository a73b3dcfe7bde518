//! Administration of the installation: departments (each with its CA) and API keys.

pub mod api_keys;
pub mod departments;
pub mod health;
pub mod log_entries;
pub mod recovery;
pub mod trust_anchors;

/// Limits of a list request.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;
