//! Verification of an uploaded PDF with the one PDF reader (`trustd::pdf`): the signature
//! fields, /ByteRange, the CMS of each signature, the DSS within the decompression budget,
//! every revision's load and the revision-by-revision change analysis, and the report, on
//! arbitrary bytes.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use trustd::verify::{verify_offline, Anchor};

fuzz_target!(|data: &[u8]| {
    let mut anchor = Anchor::new("root", common::installation().root.clone());
    anchor.revocation_required = data.first().is_some_and(|b| b & 1 == 1);
    let anchors = [anchor];
    let _ = verify_offline(data, &anchors, 1_795_000_000, &Default::default());
});
