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
use x509_cert::Certificate;
use x509_ocsp::{OcspRequest, OcspResponse};

fn template() -> &'static OcspRequest {
    static T: OnceLock<OcspRequest> = OnceLock::new();
    T.get_or_init(|| {
        let inst = common::installation();
        let leaf = Certificate::from_der(&inst.chain[0]).expect("leaf");
        let ca = Certificate::from_der(&inst.chain[1]).expect("CA");
        let name = ca.tbs_certificate.subject.to_der().expect("name");
        let key = ca
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let sha1 = |b: &[u8]| {
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b)
                .as_ref()
                .to_vec()
        };
        let id = x509_ocsp::CertId {
            hash_algorithm: x509_cert::spki::AlgorithmIdentifierOwned {
                oid: der::oid::db::rfc5912::ID_SHA_1,
                parameters: Some(der::asn1::Null.into()),
            },
            issuer_name_hash: der::asn1::OctetString::new(sha1(&name)).expect("hash"),
            issuer_key_hash: der::asn1::OctetString::new(sha1(key)).expect("hash"),
            serial_number: leaf.tbs_certificate.serial_number.clone(),
        };
        OcspRequest {
            tbs_request: x509_ocsp::TbsRequest {
                version: Default::default(),
                requestor_name: None,
                request_list: vec![x509_ocsp::Request {
                    req_cert: id,
                    single_request_extensions: None,
                }],
                request_extensions: None,
            },
            optional_signature: None,
        }
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
