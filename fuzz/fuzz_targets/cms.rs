//! CMS / CAdES parsing: a detached signature (as in a PDF's /Contents) and an RFC 3161
//! time-stamp token, on arbitrary DER.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustd::verify::cms::{check_detached, check_token};

fuzz_target!(|data: &[u8]| {
    let digest_of = |d: trustd::verify::cms::Digest| d.of(b"the signed byte ranges");
    let _ = check_detached(data, &digest_of);
    let _ = check_token(data, &digest_of);
});
