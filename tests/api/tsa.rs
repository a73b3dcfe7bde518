//! The RFC 3161 time-stamping service. (`scripts/interop.sh` checks the same tokens with
//! `openssl ts -verify`; this test checks them without openssl, from the ASN.1 up.)

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::{Int, OctetString};
use der::{Decode, Encode};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use crate::dual_tests;
use crate::helpers::{assert_problem, TestApp};

pub fn request(digest: &[u8], oid: &str, nonce: &[u8]) -> Vec<u8> {
    TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                oid: der::asn1::ObjectIdentifier::new_unwrap(oid),
                parameters: None,
            },
            hashed_message: OctetString::new(digest.to_vec()).unwrap(),
        },
        req_policy: None,
        nonce: Some(Int::new(nonce).unwrap()),
        cert_req: true,
        extensions: None,
    }
    .to_der()
    .unwrap()
}

pub async fn post_tsa(app: &TestApp, body: Vec<u8>, content_type: &str) -> reqwest::Response {
    app.client
        .post(app.url("/tsa"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn issues_verifiable_timestamps(app: TestApp) {
    let digest = ring::digest::digest(&ring::digest::SHA256, b"document");
    let resp = post_tsa(
        &app,
        request(digest.as_ref(), "2.16.840.1.101.3.4.2.1", &[0x12, 0x34]),
        "application/timestamp-query",
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/timestamp-reply"
    );
    let bytes = resp.bytes().await.unwrap();
    let reply = TimeStampResp::from_der(&bytes).unwrap();
    assert_eq!(reply.status.status, cmpv2::status::PkiStatus::Accepted);
    let token: ContentInfo = reply.time_stamp_token.unwrap();
    let signed = SignedData::from_der(&token.content.to_der().unwrap()).unwrap();
    let econtent = signed.encap_content_info.econtent.unwrap();
    let tst_der = econtent.value();
    let tst = TstInfo::from_der(tst_der).unwrap();
    assert_eq!(
        tst.message_imprint.hashed_message.as_bytes(),
        digest.as_ref()
    );
    assert_eq!(tst.nonce.unwrap().as_bytes(), [0x12, 0x34]);
    assert_eq!(tst.policy.to_string(), "0.4.0.2023.1.1");
    // The signature: over the DER SET of signed attributes, whose message digest is the
    // TSTInfo's SHA-256, by the TSA certificate in the token, which the root issued.
    let info = signed.signer_infos.0.as_slice()[0].clone();
    let attrs = info.signed_attrs.clone().unwrap();
    let md = attrs
        .iter()
        .find(|a| a.oid.to_string() == "1.2.840.113549.1.9.4")
        .unwrap()
        .values
        .as_slice()[0]
        .decode_as::<OctetString>()
        .unwrap();
    assert_eq!(
        md.as_bytes(),
        ring::digest::digest(&ring::digest::SHA256, tst_der).as_ref()
    );
    assert!(
        attrs
            .iter()
            .any(|a| a.oid.to_string() == "1.2.840.113549.1.9.16.2.47"),
        "ESS signing-certificate-v2"
    );
    let certs = signed.certificates.unwrap();
    let tsa_der = match &certs.0.as_slice()[0] {
        cms::cert::CertificateChoices::Certificate(c) => c.to_der().unwrap(),
        _ => panic!("not a certificate"),
    };
    let (_, tsa_cert) = x509_parser::parse_x509_certificate(&tsa_der).unwrap();
    UnparsedPublicKey::new(
        &ECDSA_P256_SHA256_ASN1,
        tsa_cert.public_key().subject_public_key.data.as_ref(),
    )
    .verify(&attrs.to_der().unwrap(), info.signature.as_bytes())
    .unwrap();
    let eku = tsa_cert.extended_key_usage().unwrap().unwrap();
    assert!(eku.critical && eku.value.time_stamping);
    let root_pem = app.get("/ca/root.pem", None).await.text().await.unwrap();
    let (_, root) = x509_parser::pem::parse_x509_pem(root_pem.as_bytes()).unwrap();
    let (_, root) = x509_parser::parse_x509_certificate(&root.contents).unwrap();
    tsa_cert.verify_signature(Some(root.public_key())).unwrap();
}

async fn refuses_bad_requests(app: TestApp) {
    // Unacceptable requests are RFC 3161 rejections, not HTTP errors.
    for (body, fail_bit) in [
        (b"garbage".to_vec(), 5),
        (request(&[0u8; 20], "1.3.14.3.2.26", &[1]), 0),
        (request(&[0u8; 31], "2.16.840.1.101.3.4.2.1", &[1]), 5),
    ] {
        let resp = post_tsa(&app, body, "application/timestamp-query").await;
        assert_eq!(resp.status(), 200);
        let bytes = resp.bytes().await.unwrap();
        // PKIStatusInfo: status 2 (rejection) and the failure bit named by RFC 3161 §2.4.2.
        let reply = TimeStampResp::from_der(&bytes);
        assert!(reply
            .as_ref()
            .map(|r| r.time_stamp_token.is_none())
            .unwrap_or(true));
        let text = hex::encode(&bytes);
        assert!(text.contains("020102"), "status rejection in {text}");
        let byte = 0x80u8 >> (fail_bit % 8);
        assert!(
            text.contains(&format!("03020{}{:02x}", 7 - fail_bit % 8, byte)) || fail_bit >= 8,
            "{text}"
        );
    }
    assert_problem(post_tsa(&app, b"x".to_vec(), "application/json").await, 415).await;
    assert_problem(
        post_tsa(&app, vec![0u8; 100_000], "application/timestamp-query").await,
        413,
    )
    .await;
}

dual_tests!(issues_verifiable_timestamps, refuses_bad_requests);
