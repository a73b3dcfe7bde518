//! The one PDF reader (`trustd::pdf`) as stamping uses it: the raw pre-checks, the load with
//! its decompression budget, the page and AcroForm walk, the /Length check, and the
//! incremental-update writer, on arbitrary bytes. A sealed result is read back by the
//! verifier's revision-by-revision analysis.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustd::pdf::precheck;
use trustd::seal::pdf::{seal, Placement, SealRequest};

fuzz_target!(|data: &[u8]| {
    if precheck(data).is_err() {
        return;
    }
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    digest.update(data);
    // The page and visibility come from the last byte, so both paths are reached.
    let flags = data.last().copied().unwrap_or(0);
    let request = SealRequest {
        placement: Placement {
            page: (flags & 1 == 1).then_some(u32::from(flags >> 4) + 1),
            x: 400.0,
            y: 80.0,
            width: 120.0,
            visible: flags & 2 == 2,
        },
        field_name: "Seal1".into(),
        seal_name: "公章",
        department_name: "福州市公安局",
        kind: "official",
        image: None,
        reason: Some("fuzz"),
        location: None,
        signing_time: "D:20261126120000+00'00'".into(),
        reserve: 256,
        doc_timestamp: flags & 4 == 4,
        limits: Default::default(),
    };
    // The signer is not under test: any DER-shaped bytes that fit the reserve.
    let sign = Box::new(|_: &[u8; 32]| Ok(vec![0x30, 0x03, 0x02, 0x01, 0x01]));
    if let Ok(sealed) = seal(data, digest, request, sign) {
        let mut whole = data.to_vec();
        whole.extend_from_slice(&sealed.update);
        let _ = trustd::verify::pdf::analyse(&whole, &Default::default(), &|| false);
    }
});
