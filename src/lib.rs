//! trustd: a shared trust service for electronic licences (电子证照), electronic seals
//! (电子印章) and a tamper-evident issuance log. See ARCHITECTURE.md for the whole.
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod codes;
pub mod config;
pub mod context;
pub mod error;
pub mod http;
pub mod keys;
pub mod licence;
pub mod log;
pub mod ofd;
pub mod pdf;
pub mod pii;
pub mod pki;
pub mod seal;
pub mod startup;
pub mod store;
pub mod upload;
pub mod verify;
pub mod witness;
pub mod work;

/// Sets up logging from `RUST_LOG` (default `info`). Safe to call more than once.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // JSON: one object per line with the span's fields (request id, client, key id), for a
    // log collector.
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}
