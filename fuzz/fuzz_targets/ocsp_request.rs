//! OCSP requests (`POST /ocsp`, `GET /ocsp/{base64}`): the installation's responder answers
//! arbitrary bytes, and a valid request for the department CA whose serial number is taken
//! from the input (so the status lookup and the signing are reached too). Every answer must
//! be a DER OCSPResponse.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use der::{Decode, Encode};
use libfuzzer_sys::fuzz_target;
use x509_ocsp::{OcspRequest, OcspResponse};

fn template() -> &'static OcspRequest {
    static T: OnceLock<OcspRequest> = OnceLock::new();
    T.get_or_init(|| {
        let inst = common::installation();
        let der = trustd::pki::ocsp::request_for(&inst.chain[0], &inst.chain[1]).expect("request");
        OcspRequest::from_der(&der).expect("own request")
    })
}

fuzz_target!(|data: &[u8]| {
    let inst = common::installation();
    let now = time::OffsetDateTime::now_utc();
    let answer = inst.rt.block_on(inst.ctx.pki.ocsp_respond(data, now));
    assert!(OcspResponse::from_der(&answer).is_ok());
    if !data.is_empty() && data.len() <= 20 {
        let mut request = template().clone();
        if let Ok(serial) = x509_cert::serial_number::SerialNumber::new(data) {
            request.tbs_request.request_list[0].req_cert.serial_number = serial;
            let der = request.to_der().expect("request");
            let answer = inst.rt.block_on(inst.ctx.pki.ocsp_respond(&der, now));
            assert!(OcspResponse::from_der(&answer).is_ok());
        }
    }
});
