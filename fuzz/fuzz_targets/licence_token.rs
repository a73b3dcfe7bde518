//! Licence tokens (`POST /api/v1/verify/licence`): arbitrary text as a token, arbitrary bytes
//! as the payload between the header and signature of a token the installation issued (so the
//! payload reaches the lookups behind a well-formed token), and arbitrary bytes as a disclosure
//! beside the issuer-signed part of the installation's SD-JWT.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use trustd::licence::verify_token;

fuzz_target!(|data: &[u8]| {
    let inst = common::installation();
    let text = String::from_utf8_lossy(data);
    let _ = inst.rt.block_on(verify_token(&inst.ctx, &text));
    let mut parts = inst.token.split('.');
    let (h, _, s) = (
        parts.next().unwrap_or(""),
        parts.next(),
        parts.last().unwrap_or(""),
    );
    let forged = format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(data));
    let report = inst.rt.block_on(verify_token(&inst.ctx, &forged));
    // Another payload under the installation's signature must never verify.
    if let Ok(r) = report {
        assert!(!r.signature_valid || forged == inst.token);
    }
    // A made-up disclosure is never accepted: only the issued ones are referenced.
    let jwt = inst.sd_jwt.split('~').next().unwrap_or("");
    let disclosure = URL_SAFE_NO_PAD.encode(data);
    let presented = format!("{jwt}~{disclosure}~");
    if let Ok(r) = inst.rt.block_on(verify_token(&inst.ctx, &presented)) {
        let issued = inst.sd_jwt.split('~').any(|d| d == disclosure);
        assert!(issued || r.disclosures_valid != Some(true) || data.is_empty());
        assert!(issued || r.disclosed.as_ref().is_none_or(|d| d.is_empty()));
    }
});
