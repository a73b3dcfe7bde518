//! Verification of an uploaded PDF: the signature fields, /ByteRange, the CMS of each
//! signature, the DSS, the modification analysis and the report, on arbitrary bytes.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use trustd::verify::{verify_offline, Anchor};

fuzz_target!(|data: &[u8]| {
    let anchors = [Anchor {
        label: "root".into(),
        der: common::installation().root.clone(),
    }];
    let _ = verify_offline(data, &anchors, 1_795_000_000, &Default::default());
});
