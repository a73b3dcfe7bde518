//! OFD packages and GB/T 38540 structures (issue 15): arbitrary bytes as a zip package through
//! the verifier (bounded reading, XML, every listed seal judged), and as DER SESeal and
//! SES_Signature.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = trustd::ofd::ses::read_seal(data);
    let _ = trustd::ofd::ses::read_signature(data);
    let _ = trustd::ofd::xml::parse(data);
    let _ = trustd::verify::ofd::verify_offline(data, &[], 1_800_000_000);
});
