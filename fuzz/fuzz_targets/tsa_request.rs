//! RFC 3161 time-stamp requests (`POST /tsa`): the installation's own TSA answers arbitrary
//! bytes; every answer must be a DER TimeStampResp.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use der::Decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tsa = common::installation().ctx.tsa.get();
    let answer = tsa.respond(
        data,
        time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
    );
    assert!(x509_tsp::TimeStampResp::from_der(&answer).is_ok());
});
