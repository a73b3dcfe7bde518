//! National cryptography (issue 15): the SM2 hierarchy, GB/T 38540 seals, OFD sealing and
//! verification, and what a hostile OFD gets. `scripts/interop.sh` has openssl, gmssl and an
//! independent Python verifier judge the same output.

use std::io::Write;

use serde_json::{json, Value};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::dual_tests;
use crate::helpers::{assert_problem, credit_code, TestApp};

/// A minimal one- or two-page OFD made here (so that `cargo test` needs no sample files).
pub fn sample_ofd(pages: usize) -> Vec<u8> {
    let mut files: Vec<(String, Vec<u8>)> = vec![(
        "OFD.xml".into(),
        br#"<?xml version="1.0" encoding="UTF-8"?>
<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocInfo><ofd:DocID>0c2e1ad4</ofd:DocID></ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"#
            .to_vec(),
    )];
    let mut list = String::new();
    for i in 0..pages {
        list.push_str(&format!(
            r#"<ofd:Page ID="{}" BaseLoc="Pages/Page_{i}/Content.xml"/>"#,
            i + 10
        ));
        files.push((
            format!("Doc_0/Pages/Page_{i}/Content.xml"),
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<ofd:Page xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Content><ofd:Layer ID="{}"><ofd:TextObject ID="{}" Boundary="20 20 100 10" Font="3" Size="5"><ofd:TextCode X="0" Y="5">第{}页 合同金额 100000 元</ofd:TextCode></ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>"#,
                100 + i,
                200 + i,
                i + 1
            )
            .into_bytes(),
        ));
    }
    files.push((
        "Doc_0/Document.xml".into(),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ofd:Document xmlns:ofd="http://www.ofdspec.org/2016"><ofd:CommonData><ofd:MaxUnitID>300</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes></ofd:CommonData><ofd:Pages>{list}</ofd:Pages></ofd:Document>"#
        )
        .into_bytes(),
    ));
    files.push((
        "Doc_0/PublicRes.xml".into(),
        br#"<?xml version="1.0" encoding="UTF-8"?>
<ofd:Res xmlns:ofd="http://www.ofdspec.org/2016" BaseLoc="Res"><ofd:Fonts><ofd:Font ID="3" FontName="SimSun" FamilyName="SimSun"/></ofd:Fonts></ofd:Res>"#
            .to_vec(),
    ));
    zip_of(&files)
}

pub fn zip_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The files of a package, in order.
pub fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let p = trustd::ofd::Package::read(bytes, &Default::default()).unwrap();
    p.entries.into_iter().map(|e| (e.name, e.data)).collect()
}

async fn setup(app: &TestApp) -> (String, String, String, String) {
    let a = credit_code(31);
    let b = credit_code(32);
    app.create_department(&a, "厦门市市场监督管理局").await;
    app.create_department(&b, "厦门市税务局").await;
    let (_, op_a) = app.create_key("operator", Some(&a)).await;
    let (_, op_b) = app.create_key("operator", Some(&b)).await;
    let seal: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op_a),
            &json!({"name": "厦门市市场监督管理局合同专用章", "kind": "contract"}),
        )
        .await
        .json()
        .await
        .unwrap();
    (a, op_a, op_b, seal["id"].as_str().unwrap().to_owned())
}

pub async fn post_ofd(
    app: &TestApp,
    token: &str,
    seal: &str,
    query: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/seals/{seal}/stamp{query}")))
        .bearer_auth(token)
        .header("content-type", "application/ofd")
        .body(body)
        .send()
        .await
        .unwrap()
}

pub async fn verify(app: &TestApp, body: Vec<u8>) -> Value {
    let resp = app
        .client
        .post(app.url("/api/v1/verify/ofd"))
        .header("content-type", "application/ofd")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    if status != 200 {
        panic!("verify: {status} {}", resp.text().await.unwrap());
    }
    resp.json().await.unwrap()
}

async fn pem(app: &TestApp, path: &str) -> Vec<u8> {
    let text = app.get(path, None).await.text().await.unwrap();
    trustd::pki::pem_certificates(&text).remove(0)
}

fn public_key(cert: &[u8]) -> Vec<u8> {
    let (_, c) = X509Certificate::from_der(cert).unwrap();
    c.public_key().subject_public_key.data.to_vec()
}

/// The SM2 hierarchy: root, department CA, seal certificate, each SM2-with-SM3 and chained;
/// the SESeal made by the department's SM2 CA, holding the seal's certificate.
async fn national_hierarchy_and_seal(app: TestApp) {
    let (a, op_a, op_b, seal) = setup(&app).await;
    let root = pem(&app, "/ca/root-sm2.pem").await;
    let ca = pem(&app, &format!("/ca/{a}-sm2.pem")).await;
    for cert in [&root, &ca] {
        let (_, c) = X509Certificate::from_der(cert).unwrap();
        assert_eq!(
            c.signature_algorithm.algorithm.to_id_string(),
            "1.2.156.10197.1.501"
        );
    }
    let resp = app
        .get(&format!("/api/v1/seals/{seal}/esl"), Some(&op_a))
        .await;
    assert_eq!(resp.status(), 200);
    let esl = resp.bytes().await.unwrap().to_vec();
    let parsed = trustd::ofd::ses::read_seal(&esl).unwrap();
    assert_eq!(parsed.version, 4);
    assert_eq!(parsed.name, "厦门市市场监督管理局合同专用章");
    assert_eq!(parsed.picture_type, "PNG");
    assert_eq!(
        parsed.maker_cert, ca,
        "the department's SM2 CA made the seal"
    );
    assert!(trustd::keys::sm2::verify(
        &public_key(&ca),
        &parsed.maker_signed[0],
        &parsed.maker_signature
    ));
    let seal_cert = parsed.cert_list[0].clone();
    let chain = [seal_cert.clone(), ca.clone()];
    let (_, leaf) = X509Certificate::from_der(&seal_cert).unwrap();
    let at = leaf.validity().not_before.timestamp() + 60;
    trustd::pki::chain::verify_chain(&chain, std::slice::from_ref(&root), at)
        .expect("the seal's SM2 certificate chains to the SM2 root");
    // Another department's operator cannot read it.
    assert_problem(
        app.get(&format!("/api/v1/seals/{seal}/esl"), Some(&op_b))
            .await,
        404,
    )
    .await;
    assert_problem(
        app.get(&format!("/api/v1/seals/{seal}/esl"), None).await,
        401,
    )
    .await;
    // OCSP answers for the SM2 certificate, signed with SM2 by its CA.
    let request = trustd::pki::ocsp::request_for(&seal_cert, &ca).unwrap();
    let resp = app
        .client
        .post(app.url("/ocsp"))
        .header("content-type", "application/ocsp-request")
        .body(request)
        .send()
        .await
        .unwrap();
    let der = resp.bytes().await.unwrap().to_vec();
    use der::{Decode, Encode};
    let response = x509_ocsp::OcspResponse::from_der(&der).unwrap();
    let basic = x509_ocsp::BasicOcspResponse::from_der(
        response.response_bytes.unwrap().response.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        basic.signature_algorithm.oid.to_string(),
        "1.2.156.10197.1.501"
    );
    assert!(matches!(
        basic.tbs_response_data.responses[0].cert_status,
        x509_ocsp::CertStatus::Good(_)
    ));
    let tbs = basic.tbs_response_data.to_der().unwrap();
    assert!(trustd::keys::sm2::verify(
        &public_key(&ca),
        &tbs,
        basic.signature.raw_bytes()
    ));
    // Revoking the seal revokes both certificates; the SM2 CRL says so, signed with SM2.
    let resp = app
        .post_json(
            &format!("/api/v1/seals/{seal}/revoke"),
            Some(&op_a),
            &json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let crl = app
        .get(&format!("/crl/{a}-sm2.crl"), None)
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let list = x509_cert::crl::CertificateList::from_der(&crl).unwrap();
    assert!(trustd::keys::sm2::verify(
        &public_key(&ca),
        &list.tbs_cert_list.to_der().unwrap(),
        list.signature.raw_bytes()
    ));
    let (_, c) = X509Certificate::from_der(&seal_cert).unwrap();
    let listed = list.tbs_cert_list.revoked_certificates.unwrap_or_default();
    assert!(listed
        .iter()
        .any(|r| r.serial_number.as_bytes() == c.raw_serial()));
    assert_problem(post_ofd(&app, &op_a, &seal, "", sample_ofd(1)).await, 409).await;
}

/// Sealed twice; both seals verify (the continue rule); a changed byte or an added file fails.
async fn seals_and_verifies_ofd(app: TestApp) {
    let (_, op_a, _, seal) = setup(&app).await;
    let resp = post_ofd(
        &app,
        &op_a,
        &seal,
        "?page=2&x=120&y=200&width=42",
        sample_ofd(2),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/ofd");
    let index: u64 = resp.headers()["trustd-log-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let sha = resp.headers()["trustd-document-sha256"]
        .to_str()
        .unwrap()
        .to_owned();
    let once = resp.bytes().await.unwrap().to_vec();
    assert_eq!(
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &once)),
        sha
    );
    app.wait_for_checkpoint().await;
    let (_, auditor) = app.create_key("auditor", None).await;
    let entry: Value = app
        .get(
            &format!("/api/v1/log/entries?start={index}&end={}", index + 1),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        entry.to_string().contains(&sha),
        "the log names the sealed file: {entry}"
    );
    let files = unzip(&once);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for f in [
        "Doc_0/Signs/Signatures.xml",
        "Doc_0/Signs/Sign_0/Signature.xml",
        "Doc_0/Signs/Sign_0/SignedValue.dat",
        "Doc_0/Signs/Sign_0/Seal.esl",
    ] {
        assert!(names.contains(&f), "{f} in {names:?}");
    }
    let signature_xml = String::from_utf8(
        files
            .iter()
            .find(|(n, _)| n.ends_with("Signature.xml"))
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(signature_xml.contains(r#"PageRef="11""#), "{signature_xml}");
    assert!(signature_xml.contains(r#"Boundary="120.00 200.00 42.00 42.00""#));
    assert!(
        !signature_xml.contains("Signatures.xml"),
        "the continue rule"
    );
    let report = verify(&app, once.clone()).await;
    assert_eq!(report["indication"], "TOTAL-PASSED", "{report:#}");
    let s = &report["signatures"][0];
    assert_eq!(s["timestamp_ok"], true);
    assert_eq!(s["trust_anchor"], "trustd SM2 root CA (this installation)");
    // A second seal keeps the first valid.
    let twice = post_ofd(&app, &op_a, &seal, "?page=1", once.clone())
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let report = verify(&app, twice.clone()).await;
    assert_eq!(report["indication"], "TOTAL-PASSED", "{report:#}");
    assert_eq!(report["signatures"].as_array().unwrap().len(), 2);
    // One changed byte of a page: the seals that cover it fail.
    let mut changed = unzip(&twice);
    let page = changed
        .iter_mut()
        .find(|(n, _)| n == "Doc_0/Pages/Page_1/Content.xml")
        .unwrap();
    let at = String::from_utf8_lossy(&page.1).find("100000").unwrap();
    page.1[at] = b'9';
    let report = verify(&app, zip_of(&changed)).await;
    assert_eq!(report["indication"], "TOTAL-FAILED");
    assert_eq!(report["signatures"][0]["sub_indication"], "HASH_FAILURE");
    assert_eq!(report["signatures"][0]["digest_ok"], false);
    // A file added after sealing (a new page, say) is not covered by either seal.
    let mut added = unzip(&twice);
    added.push((
        "Doc_0/Pages/Page_9/Content.xml".into(),
        b"<ofd:Page/>".to_vec(),
    ));
    let report = verify(&app, zip_of(&added)).await;
    assert_eq!(report["indication"], "TOTAL-FAILED");
    assert_eq!(
        report["signatures"][1]["uncovered"][0],
        "Doc_0/Pages/Page_9/Content.xml"
    );
    // Nothing sealed: no signature.
    let report = verify(&app, sample_ofd(1)).await;
    assert_eq!(report["sub_indication"], "NO_SIGNATURE_FOUND");
}

/// What an attacker can do to a sealed OFD, and what trustd answers.
async fn forged_ofds_never_pass(app: TestApp) {
    let (_, op_a, _, seal) = setup(&app).await;
    let sealed = post_ofd(&app, &op_a, &seal, "", sample_ofd(1))
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let files = unzip(&sealed);
    let value = files
        .iter()
        .find(|(n, _)| n.ends_with("SignedValue.dat"))
        .unwrap()
        .1
        .clone();
    let mut sig = trustd::ofd::ses::read_signature(&value).unwrap();
    let with = |name: &str, data: Vec<u8>| {
        let mut f = files.clone();
        f.iter_mut().find(|(n, _)| n.ends_with(name)).unwrap().1 = data;
        zip_of(&f)
    };
    // 1. The signature value changed.
    let mut bad = value.clone();
    let n = bad.len();
    let pos = value
        .windows(sig.signature.len())
        .position(|w| w == sig.signature.as_slice())
        .unwrap()
        + sig.signature.len()
        - 3;
    bad[pos] ^= 1;
    assert!(n == bad.len());
    let report = verify(&app, with("SignedValue.dat", bad)).await;
    assert_eq!(report["indication"], "TOTAL-FAILED", "{report:#}");
    // 2. Signature.xml changed (a reference dropped): dataHash no longer matches.
    let xml = files
        .iter()
        .find(|(n, _)| n.ends_with("Signature.xml"))
        .unwrap()
        .1
        .clone();
    let text = String::from_utf8(xml)
        .unwrap()
        .replace("PageRef=\"10\"", "PageRef=\"10\" ");
    let report = verify(&app, with("Signature.xml", text.into_bytes())).await;
    assert_eq!(report["signatures"][0]["data_hash_ok"], false);
    assert_eq!(report["indication"], "TOTAL-FAILED");
    // 3. A seal the attacker made himself, with his own SM2 keys for maker and signer, over a
    //    correct TBS_Sign: every signature verifies, nothing chains to an anchor.
    let (maker, _) =
        trustd::keys::SoftwareKey::generate(trustd::keys::KeyAlgorithm::Sm2Sm3).unwrap();
    let (signer, _) =
        trustd::keys::SoftwareKey::generate(trustd::keys::KeyAlgorithm::Sm2Sm3).unwrap();
    use trustd::keys::Signer;
    let now = time::OffsetDateTime::now_utc();
    let validity = trustd::pki::certs::Validity {
        not_before: now,
        not_after: now + time::Duration::days(30),
    };
    let maker_name = trustd::pki::sm2::name("厦门市市场监督管理局", None, "伪造制章者").unwrap();
    let maker_issuer = trustd::pki::sm2::IssuerOf {
        name: maker_name.clone(),
        public_key: maker.public_key().to_vec(),
        signer: &maker,
    };
    let maker_cert = trustd::pki::sm2::build_certificate(
        maker_name,
        maker.public_key(),
        &[0x41; 16],
        validity,
        &trustd::pki::sm2::Profile::ca(None, None),
        &maker_issuer,
    )
    .unwrap();
    let urls = trustd::pki::certs::RevocationUrls::for_ca("http://x", "y");
    let signer_cert = trustd::pki::sm2::build_certificate(
        trustd::pki::sm2::name(
            "厦门市市场监督管理局",
            None,
            "厦门市市场监督管理局合同专用章",
        )
        .unwrap(),
        signer.public_key(),
        &[0x42; 16],
        validity,
        &trustd::pki::sm2::Profile::signer(urls, None),
        &maker_issuer,
    )
    .unwrap();
    let content = trustd::ofd::ses::SealContent {
        es_id: "forged".into(),
        vid: "x".into(),
        kind: 1,
        name: "厦门市市场监督管理局合同专用章".into(),
        certs: vec![signer_cert.clone()],
        created: now.unix_timestamp(),
        valid_start: now.unix_timestamp(),
        valid_end: now.unix_timestamp() + 86_400,
        png: sig.seal.picture.clone(),
        width_mm: 40,
        height_mm: 40,
    };
    let forged_seal = trustd::seal::national::ses_seal(&content, &maker_cert, &maker).unwrap();
    let xml = files
        .iter()
        .find(|(n, _)| n.ends_with("Signature.xml"))
        .unwrap()
        .1
        .clone();
    let tbs = trustd::ofd::ses::tbs_sign_der(
        &forged_seal,
        now.unix_timestamp(),
        &trustd::keys::sm2::sm3(&xml),
        "/Doc_0/Signs/Sign_0/Signature.xml",
    )
    .unwrap();
    let signature = signer.sign(&tbs).unwrap();
    let forged = trustd::ofd::ses::signature_der(
        &tbs,
        &signer_cert,
        trustd::pki::oid::SM2_WITH_SM3,
        &signature,
        None,
    )
    .unwrap();
    let mut f = files.clone();
    f.iter_mut()
        .find(|(n, _)| n.ends_with("SignedValue.dat"))
        .unwrap()
        .1 = forged;
    f.iter_mut()
        .find(|(n, _)| n.ends_with("Seal.esl"))
        .unwrap()
        .1 = forged_seal;
    // Seal.esl is covered by the references: the attacker must also rewrite Signature.xml…
    let report = verify(&app, zip_of(&f)).await;
    assert_ne!(report["indication"], "TOTAL-PASSED", "{report:#}");
    // 5. A fake "later seal" listed in Signatures.xml (not covered) whose directory is a page's,
    //    to excuse a file added beside the page: the first seal still reports it.
    let mut f = files.clone();
    let list = f
        .iter_mut()
        .find(|(n, _)| n.ends_with("Signatures.xml"))
        .unwrap();
    let text = String::from_utf8(list.1.clone()).unwrap().replace(
        "</ofd:Signatures>",
        r#"<ofd:Signature ID="9" Type="Seal" BaseLoc="/Doc_0/Pages/Page_0/Signature.xml"/></ofd:Signatures>"#,
    );
    list.1 = text.into_bytes();
    f.push((
        "Doc_0/Pages/Page_0/Res_evil.xml".into(),
        b"<evil/>".to_vec(),
    ));
    let report = verify(&app, zip_of(&f)).await;
    assert_eq!(report["indication"], "TOTAL-FAILED", "{report:#}");
    assert_eq!(
        report["signatures"][0]["uncovered"][0],
        "Doc_0/Pages/Page_0/Res_evil.xml"
    );
    // 4. …and if the seal and the signature are trustd's, but the signer is not in the seal:
    //    the genuine seal's TBS re-signed by the attacker's key.
    sig.cert = signer_cert;
    let tbs = sig.tbs.clone();
    let resigned = trustd::ofd::ses::signature_der(
        &tbs,
        &sig.cert,
        trustd::pki::oid::SM2_WITH_SM3,
        &signer.sign(&tbs).unwrap(),
        None,
    )
    .unwrap();
    let report = verify(&app, with("SignedValue.dat", resigned)).await;
    assert_eq!(report["signatures"][0]["signer_in_seal"], false);
    assert_eq!(report["indication"], "TOTAL-FAILED");
    assert_eq!(
        report["signatures"][0]["sub_indication"],
        "SIG_CONSTRAINTS_FAILURE"
    );
}

/// Bad packages get a 4xx problem, never a 500; nothing is logged for them.
async fn hostile_packages_are_refused(app: TestApp) {
    let (_, op_a, _, seal) = setup(&app).await;
    let ofd = |files: &[(&str, &[u8])]| {
        zip_of(
            &files
                .iter()
                .map(|(n, d)| ((*n).to_owned(), d.to_vec()))
                .collect::<Vec<_>>(),
        )
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not a zip", b"%PDF-1.7 not an ofd".to_vec()),
        ("no OFD.xml", ofd(&[("Doc_0/Document.xml", b"<x/>")])),
        ("a path with ..", ofd(&[("OFD.xml", b"<x/>"), ("../../etc/cron.d/x", b"x")])),
        ("a zip bomb", ofd(&[("OFD.xml", b"<x/>"), ("big", &vec![0u8; 300 * 1024 * 1024])])),
        ("an OFD.xml that is not XML", ofd(&[("OFD.xml", b"<ofd:OFD><ofd:DocBody>")])),
        ("a DocRoot that is missing", ofd(&[("OFD.xml", br#"<ofd:OFD xmlns:ofd="x"><ofd:DocBody><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"#)])),
        ("encrypted entries", encrypted(sample_ofd(1))),
        ("duplicate names", duplicated(sample_ofd(1))),
        ("two end records", {
            let z = sample_ofd(1);
            let end = z[z.len() - 22..].to_vec();
            [z, end].concat()
        }),
        ("bytes before the first entry", [b"PK\x03\x04junk".to_vec(), sample_ofd(1)].concat()),
        ("a seal listed twice", listed_twice()),
    ];
    for (what, body) in cases {
        if what != "a seal listed twice" {
            let p = assert_problem(post_ofd(&app, &op_a, &seal, "", body.clone()).await, 422).await;
            assert!(p["type"].as_str().unwrap().ends_with("-ofd"), "{what}: {p}");
        }
        let resp = app
            .client
            .post(app.url("/api/v1/verify/ofd"))
            .header("content-type", "application/ofd")
            .body(body)
            .send()
            .await
            .unwrap();
        // A package without a signatures list has nothing to verify: no signature, not an error.
        let expected = if what == "a DocRoot that is missing" {
            200
        } else {
            422
        };
        assert_eq!(resp.status(), expected, "{what}");
    }
    assert_problem(
        post_ofd(&app, &op_a, &seal, "?page=3", sample_ofd(1)).await,
        422,
    )
    .await;
    assert_problem(
        post_ofd(&app, &op_a, &seal, "?level=B-T", sample_ofd(1)).await,
        422,
    )
    .await;
    assert_problem(
        post_ofd(&app, &op_a, &seal, "?x=-1", sample_ofd(1)).await,
        400,
    )
    .await;
    // Inside the schema's (PDF's) range, outside OFD's: a rule the schema cannot state.
    assert_problem(
        post_ofd(&app, &op_a, &seal, "?width=500", sample_ofd(1)).await,
        422,
    )
    .await;
}

/// A package whose Signatures.xml lists the same Signature.xml twice (a work amplifier).
fn listed_twice() -> Vec<u8> {
    let mut files = unzip(&sample_ofd(1));
    files[0].1 = String::from_utf8(files[0].1.clone())
        .unwrap()
        .replace(
            "</ofd:DocRoot>",
            "</ofd:DocRoot><ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>",
        )
        .into_bytes();
    let entry = r#"<ofd:Signature ID="1" BaseLoc="Sign_0/Signature.xml"/>"#;
    files.push((
        "Doc_0/Signs/Signatures.xml".into(),
        format!(r#"<ofd:Signatures xmlns:ofd="http://www.ofdspec.org/2016">{entry}{entry}</ofd:Signatures>"#).into_bytes(),
    ));
    zip_of(&files)
}

/// The general-purpose flag's bit 0 (encrypted) set in every header.
fn encrypted(mut zip: Vec<u8>) -> Vec<u8> {
    for sig in [[0x50u8, 0x4b, 0x03, 0x04], [0x50, 0x4b, 0x01, 0x02]] {
        let offset = if sig[2] == 3 { 6 } else { 8 };
        let at: Vec<usize> = zip
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == sig)
            .map(|(i, _)| i)
            .collect();
        for i in at {
            zip[i + offset] |= 1;
        }
    }
    zip
}

/// Two entries named `OFD.xml`: the second renamed in place from `OFD.xmm`.
fn duplicated(zip: Vec<u8>) -> Vec<u8> {
    let files = unzip(&zip);
    let mut with_twin: Vec<(String, Vec<u8>)> = files.clone();
    with_twin.push(("OFD.xmm".into(), b"<evil/>".to_vec()));
    let mut bytes = zip_of(&with_twin);
    let needle = b"OFD.xmm";
    let at: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| w == needle)
        .map(|(i, _)| i)
        .collect();
    for i in at {
        bytes[i + 6] = b'l';
    }
    bytes
}

dual_tests!(
    national_hierarchy_and_seal,
    seals_and_verifies_ofd,
    forged_ofds_never_pass,
    hostile_packages_are_refused
);

/// ofdrw's sealed files (`TRUSTD_OFD_SAMPLES_DIR`, e.g. ../shared/ofd-samples): every seal's
/// digests and signatures intact, not anchored; the copy with a changed page fails.
#[test]
fn other_producers_seals() {
    let Ok(dir) = std::env::var("TRUSTD_OFD_SAMPLES_DIR") else {
        eprintln!("TRUSTD_OFD_SAMPLES_DIR not set: skipped");
        return;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (file, intact) in [
        ("SESV4SignDoc.ofd", true),
        ("v4signed.ofd", true),
        ("SESV4SignDoc-page-changed.ofd", false),
    ] {
        let bytes = std::fs::read(format!("{dir}/{file}")).unwrap();
        let report = trustd::verify::ofd::verify_offline(&bytes, &[], now).unwrap();
        let r = serde_json::to_value(&report).unwrap();
        for s in r["signatures"].as_array().unwrap() {
            assert_eq!(s["signature_ok"], true, "{file}: {s:#}");
            assert_eq!(s["seal_maker_signature_ok"], true, "{file}");
            assert_eq!(s["signer_in_seal"], true, "{file}");
            assert_eq!(s["data_hash_ok"], true, "{file}");
            assert_eq!(s["digest_ok"], intact, "{file}");
            if intact {
                assert_eq!(s["uncovered"], json!([]), "{file}");
                assert_eq!(s["indication"], "INDETERMINATE", "{file}: not anchored");
            } else {
                assert_eq!(s["indication"], "TOTAL-FAILED", "{file}");
            }
        }
    }
    let bytes = std::fs::read(format!("{dir}/SESV4SignDoc.ofd")).unwrap();
    let report =
        serde_json::to_value(trustd::verify::ofd::verify_offline(&bytes, &[], now).unwrap())
            .unwrap();
    assert_eq!(
        report["signatures"][0]["seal_valid_at_signing"], false,
        "signed after the seal expired"
    );
}
