//! Sealing PDFs: the result is checked here from the bytes up (prefix kept, ByteRange,
//! CMS signature and digest, attributes); `scripts/interop.sh` has pyHanko, pdfsig and openssl
//! judge the same output.

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::OctetString;
use der::{Decode, Encode, Reader, SliceReader};
use lopdf::{dictionary, Document, Object, Stream};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use serde_json::{json, Value};

use crate::dual_tests;
use crate::helpers::{assert_problem, credit_code, spawn_app, Db, TestApp, INVALID};

/// A small PDF made here (so that `cargo test` needs no sample files).
pub fn sample_pdf(pages: i64) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(
        dictionary! {"Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica"},
    );
    let mut kids = Vec::new();
    for i in 0..pages {
        let text = format!("BT /F1 24 Tf 72 700 Td (Page {}) Tj ET", i + 1);
        let content = doc.add_object(Stream::new(dictionary! {}, text.into_bytes()));
        let page = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content,
            "Resources" => dictionary! {"Font" => dictionary! {"F1" => font}},
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        });
        kids.push(Object::Reference(page));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {"Type" => "Pages", "Kids" => kids, "Count" => pages}),
    );
    let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn last_byte_range(pdf: &[u8]) -> [usize; 4] {
    let key = b"/ByteRange [";
    let at = pdf.windows(key.len()).rposition(|w| w == key).unwrap() + key.len();
    let text = std::str::from_utf8(&pdf[at..at + 60]).unwrap();
    let nums: Vec<usize> = text
        .split(']')
        .next()
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    [nums[0], nums[1], nums[2], nums[3]]
}

/// Checks the last signature of `sealed`; returns whether it carries a time-stamp token.
pub fn check_last_signature(sealed: &[u8]) -> bool {
    let [a, b, c, d] = last_byte_range(sealed);
    assert_eq!(a, 0);
    assert_eq!(c + d, sealed.len(), "the ByteRange covers the whole file");
    assert_eq!(sealed[b], b'<');
    assert_eq!(sealed[c - 1], b'>');
    let cms = hex::decode(&sealed[b + 1..c - 1]).unwrap();
    let mut reader = SliceReader::new(&cms).unwrap();
    let info = ContentInfo::decode(&mut reader).unwrap();
    assert!(
        cms[reader.position().try_into().unwrap_or(0usize)..]
            .iter()
            .all(|z| *z == 0),
        "zero padded"
    );
    let signed = SignedData::from_der(&info.content.to_der().unwrap()).unwrap();
    assert!(signed.encap_content_info.econtent.is_none(), "detached");
    let signer = signed.signer_infos.0.as_slice()[0].clone();
    let attrs = signer.signed_attrs.clone().unwrap();
    let oid = |a: &x509_cert::attr::Attribute| a.oid.to_string();
    assert!(
        attrs.iter().any(|a| oid(a) == "1.2.840.113549.1.9.16.2.47"),
        "signing-certificate-v2"
    );
    assert!(
        !attrs.iter().any(|a| oid(a) == "1.2.840.113549.1.9.5"),
        "no signing-time attribute (PAdES)"
    );
    let digest = attrs
        .iter()
        .find(|a| oid(a) == "1.2.840.113549.1.9.4")
        .unwrap()
        .values
        .as_slice()[0]
        .decode_as::<OctetString>()
        .unwrap();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&sealed[..b]);
    ctx.update(&sealed[c..]);
    assert_eq!(
        digest.as_bytes(),
        ctx.finish().as_ref(),
        "message digest over the byte ranges"
    );
    // The certificates are a SET OF (sorted by encoding): find the one the signer names.
    let cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(sid) = &signer.sid else {
        panic!("signer identified by issuer and serial");
    };
    let cert = signed
        .certificates
        .unwrap()
        .0
        .iter()
        .find_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c)
                if c.tbs_certificate.serial_number == sid.serial_number =>
            {
                Some(c.to_der().unwrap())
            }
            _ => None,
        })
        .expect("the signer's certificate is embedded");
    let (_, cert) = x509_parser::parse_x509_certificate(&cert).unwrap();
    UnparsedPublicKey::new(
        &ECDSA_P256_SHA256_ASN1,
        cert.public_key().subject_public_key.data.as_ref(),
    )
    .verify(&attrs.to_der().unwrap(), signer.signature.as_bytes())
    .expect("the signature verifies with the seal certificate's key");
    signer
        .unsigned_attrs
        .map(|u| u.iter().any(|a| oid(a) == "1.2.840.113549.1.9.16.2.14"))
        .unwrap_or(false)
}

async fn seal_setup(app: &TestApp) -> (String, String, String) {
    let a = credit_code(10);
    let b = credit_code(20);
    app.create_department(&a, "福州市人民政府").await;
    app.create_department(&b, "福州市财政局").await;
    let (_, op_a) = app.create_key("operator", Some(&a)).await;
    let (_, op_b) = app.create_key("operator", Some(&b)).await;
    let seal: Value = app
        .post_json(
            "/api/v1/seals",
            Some(&op_a),
            &json!({"name": "福州市人民政府公章", "kind": "official"}),
        )
        .await
        .json()
        .await
        .unwrap();
    (op_a, op_b, seal["id"].as_str().unwrap().to_owned())
}

pub async fn post_pdf(
    app: &TestApp,
    token: &str,
    seal: &str,
    query: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/seals/{seal}/stamp{query}")))
        .bearer_auth(token)
        .header("content-type", "application/pdf")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn stamps_pades_b_t_and_b_b(app: TestApp) {
    let (op_a, _, seal) = seal_setup(&app).await;
    let original = sample_pdf(2);
    let resp = post_pdf(
        &app,
        &op_a,
        &seal,
        "?page=1&x=300&y=80&width=120&reason=%E7%A1%AE%E8%AE%A4&location=Fuzhou",
        original.clone(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    let index: u64 = resp.headers()["trustd-log-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let sha = resp.headers()["trustd-document-sha256"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(resp.headers()["trustd-seal-visible"], "true");
    let sealed = resp.bytes().await.unwrap().to_vec();
    assert!(
        sealed.starts_with(&original),
        "an incremental update keeps the original as a prefix"
    );
    assert_eq!(
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &sealed)),
        sha
    );
    assert!(
        check_last_signature(&sealed),
        "B-T carries a signature time-stamp"
    );
    let text = String::from_utf8_lossy(&sealed);
    assert!(
        text.contains("/SubFilter /ETSI.CAdES.detached") && text.contains("/Filter /Adobe.PPKLite")
    );
    assert!(!text[original.len()..].contains("/Cert "), "no /Cert entry");
    // The result reads back as a PDF with the same pages.
    let doc = Document::load_mem(&sealed).unwrap();
    assert_eq!(doc.get_pages().len(), 2);

    // Sealing again keeps the first seal intact (it stays a prefix) and adds a second.
    let again = post_pdf(
        &app,
        &op_a,
        &seal,
        "?level=B-B&visible=false",
        sealed.clone(),
    )
    .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["trustd-seal-visible"], "false");
    let twice = again.bytes().await.unwrap().to_vec();
    assert!(twice.starts_with(&sealed));
    assert!(!check_last_signature(&twice), "B-B has no time-stamp");
    // Two seals in the same second still get distinct field names (a reused name would read
    // as a change to the first signature's field).
    let doc = Document::load_mem(&twice).unwrap();
    let names: std::collections::BTreeSet<Vec<u8>> = doc
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .filter(|d| {
            d.get(b"FT")
                .and_then(Object::as_name)
                .map(|n| n == b"Sig")
                .unwrap_or(false)
        })
        .map(|d| d.get(b"T").unwrap().as_str().unwrap().to_vec())
        .collect();
    assert_eq!(names.len(), 2);

    // The log holds the hashes, never the document.
    let (_, auditor) = app.create_key("auditor", None).await;
    let entries: Value = app
        .get(
            &format!("/api/v1/log/entries?start={index}&end={}", index + 1),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    let event = &entries["entries"][0]["event"];
    assert_eq!(event["type"], "document.stamped");
    assert_eq!(event["subject"], seal.as_str());
    assert_eq!(event["data"]["output_sha256"], sha.as_str());
    assert_eq!(
        event["data"]["input_sha256"],
        hex::encode(ring::digest::digest(&ring::digest::SHA256, &original)).as_str()
    );
}

async fn refuses_bad_documents_and_options(app: TestApp) {
    let (op_a, op_b, seal) = seal_setup(&app).await;
    let pdf = sample_pdf(1);
    let problem = assert_problem(
        post_pdf(
            &app,
            &op_a,
            &seal,
            "",
            b"\xff\xd8\xff\xe0 not a pdf".to_vec(),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem["type"], "/problems/malformed-pdf");
    let truncated = pdf[..pdf.len() * 6 / 10].to_vec();
    let problem = assert_problem(post_pdf(&app, &op_a, &seal, "", truncated).await, 422).await;
    assert_eq!(problem["type"], "/problems/malformed-pdf");
    let deep = format!(
        "%PDF-1.4\n1 0 obj\n{}\nendobj\nstartxref\n9\n%%EOF\n",
        "<< /A ".repeat(50_000)
    );
    assert_problem(
        post_pdf(&app, &op_a, &seal, "", deep.into_bytes()).await,
        422,
    )
    .await;
    for (query, field) in [
        ("?page=3", "page"),
        ("?page=0", "page"),
        ("?width=5", "width"),
        ("?level=B-X", "level"),
        ("?x=-1", "x"),
        ("?visible=maybe", "visible"),
    ] {
        let problem = assert_problem(
            post_pdf(&app, &op_a, &seal, query, pdf.clone()).await,
            INVALID,
        )
        .await;
        assert_eq!(problem["field"], field, "{query}");
    }
    assert_problem(
        post_pdf(&app, &op_a, &seal, "?colour=red", pdf.clone()).await,
        400,
    )
    .await;
    // Another department's seal is never usable.
    assert_problem(post_pdf(&app, &op_b, &seal, "", pdf.clone()).await, 404).await;
    assert_problem(
        post_pdf(&app, &app.admin_token, &seal, "", pdf.clone()).await,
        403,
    )
    .await;
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/seals/{seal}/stamp")))
        .bearer_auth(&op_a)
        .header("content-type", "application/json")
        .body(pdf.clone())
        .send()
        .await
        .unwrap();
    assert_problem(resp, 415).await;
    // Oversize (the test server allows 2 MiB).
    assert_problem(
        post_pdf(&app, &op_a, &seal, "", vec![b'%'; 3 * 1024 * 1024]).await,
        413,
    )
    .await;
    // Nothing was logged for the refusals.
    let (_, auditor) = app.create_key("auditor", None).await;
    let found: Value = app
        .get("/api/v1/log/search?type=document.stamped", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert!(found["entries"].as_array().unwrap().is_empty());
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let data: Vec<u8> = (0..width * height)
            .flat_map(|i| [215, 0, 15, if i % 3 == 0 { 0 } else { 255 }])
            .collect();
        w.write_image_data(&data).unwrap();
    }
    out
}

async fn put_image(
    app: &TestApp,
    token: &str,
    seal: &str,
    media: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/seals/{seal}/appearance")))
        .bearer_auth(token)
        .header("content-type", media)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A department's own PNG replaces the generated seal, in the SVG and in stamped PDFs.
async fn uploaded_appearance(app: TestApp) {
    let (op_a, op_b, seal) = seal_setup(&app).await;
    let image = png(80, 60);
    // Refusals first: another department, SVG, not a PNG, too large.
    assert_problem(
        put_image(&app, &op_b, &seal, "image/png", image.clone()).await,
        404,
    )
    .await;
    assert_problem(
        put_image(&app, &op_a, &seal, "image/svg+xml", b"<svg/>".to_vec()).await,
        415,
    )
    .await;
    let problem = assert_problem(
        put_image(&app, &op_a, &seal, "image/png", b"GIF89a....".to_vec()).await,
        422,
    )
    .await;
    assert_eq!(problem["type"], "/problems/invalid-image");
    assert_problem(
        put_image(&app, &op_a, &seal, "image/png", vec![0; 2 * 1024 * 1024]).await,
        413,
    )
    .await;

    // The upload waits for an admin's approval: until then the generated seal is used.
    let resp = put_image(&app, &op_a, &seal, "image/png", image.clone()).await;
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["appearance"], "pending");
    let sha256 = body["image_sha256"].as_str().unwrap().to_owned();
    let state: Value = app
        .get(&format!("/api/v1/seals/{seal}"), Some(&op_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state["appearance"]["in_use"], "generated");
    assert_eq!(state["appearance"]["pending_sha256"], sha256.as_str());
    let svg = app
        .get(&format!("/api/v1/seals/{seal}/appearance.svg"), Some(&op_a))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !svg.contains("data:image/png;base64,"),
        "a pending image is not shown as the seal"
    );
    let images_in = |pdf: &[u8]| {
        let doc = Document::load_mem(pdf).unwrap();
        doc.objects
            .values()
            .filter_map(|o| o.as_stream().ok())
            .filter(|s| s.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Image"))
            .map(|s| s.dict.get(b"Width").and_then(Object::as_i64).unwrap_or(0))
            .collect::<Vec<i64>>()
    };
    let original = sample_pdf(1);
    let resp = post_pdf(&app, &op_a, &seal, "?width=90", original.clone()).await;
    assert_eq!(resp.status(), 200);
    let sealed = resp.bytes().await.unwrap().to_vec();
    assert!(check_last_signature(&sealed));
    assert!(
        images_in(&sealed).is_empty(),
        "a pending image is never stamped"
    );

    // The admin reviews the pending image and approves exactly that one.
    let review = app
        .get(
            &format!("/api/v1/seals/{seal}/appearance/pending.png"),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(review.status(), 200);
    assert_eq!(review.headers()["content-type"], "image/png");
    assert_eq!(review.bytes().await.unwrap().to_vec(), image);
    let approve = |token: String, sha: String| {
        let app = &app;
        let seal = seal.clone();
        async move {
            app.post_json(
                &format!("/api/v1/seals/{seal}/appearance/approve"),
                Some(&token),
                &json!({ "image_sha256": sha }),
            )
            .await
        }
    };
    assert_problem(approve(op_a.clone(), sha256.clone()).await, 403).await;
    assert_problem(approve(app.admin_token.clone(), "ab".repeat(32)).await, 409).await;
    assert_problem(approve(app.admin_token.clone(), "xyz".into()).await, 422).await;
    let resp = approve(app.admin_token.clone(), sha256.clone()).await;
    assert_eq!(resp.status(), 200);
    let approved: Value = resp.json().await.unwrap();
    assert!(approved["log_index"].as_u64().is_some());
    assert_problem(approve(app.admin_token.clone(), sha256.clone()).await, 404).await;
    let state: Value = app
        .get(&format!("/api/v1/seals/{seal}"), Some(&op_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state["appearance"]["in_use"], "approved_image");
    assert_eq!(state["appearance"]["approved_sha256"], sha256.as_str());
    assert!(state["appearance"].get("pending_sha256").is_none());
    let svg = app
        .get(&format!("/api/v1/seals/{seal}/appearance.svg"), Some(&op_a))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        svg.contains("data:image/png;base64,")
            && svg.contains("<title>福州市人民政府 公章</title>")
    );

    let resp = post_pdf(&app, &op_a, &seal, "?width=90", original.clone()).await;
    assert_eq!(resp.status(), 200);
    let sealed = resp.bytes().await.unwrap().to_vec();
    assert!(sealed.starts_with(&original));
    assert!(check_last_signature(&sealed));
    let doc = Document::load_mem(&sealed).unwrap();
    let images: Vec<&lopdf::Stream> = doc
        .objects
        .values()
        .filter_map(|o| o.as_stream().ok())
        .filter(|s| s.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Image"))
        .collect();
    assert_eq!(images.len(), 2, "the image and its soft mask");
    assert!(images
        .iter()
        .any(|s| s.dict.has(b"SMask")
            && s.dict.get(b"Width").and_then(Object::as_i64).ok() == Some(80)));

    // A new upload waits again; the approved image stays in use meanwhile.
    let other = png(40, 40);
    assert_eq!(
        put_image(&app, &op_a, &seal, "image/png", other)
            .await
            .status(),
        202
    );
    let resp = post_pdf(&app, &op_a, &seal, "?width=90", original.clone()).await;
    let sealed = resp.bytes().await.unwrap().to_vec();
    let widths = images_in(&sealed);
    assert!(widths.contains(&80) && !widths.contains(&40), "{widths:?}");

    let (_, auditor) = app.create_key("auditor", None).await;
    let found: Value = app
        .get(
            "/api/v1/log/search?type=seal.appearance_set",
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    let entries = found["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "only the accepted uploads are logged");
    assert_eq!(entries[0]["event"]["data"]["state"], "pending");
    let found: Value = app
        .get(
            "/api/v1/log/search?type=seal.appearance_approved",
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    let approvals = found["entries"].as_array().unwrap();
    assert_eq!(approvals.len(), 1);
    assert_eq!(
        approvals[0]["event"]["data"]["image_sha256"],
        sha256.as_str()
    );
    assert!(approvals[0]["event"]["actor"].as_str().is_some());
}

/// Every `/ByteRange` in the file, in order.
fn byte_ranges(pdf: &[u8]) -> Vec<[usize; 4]> {
    let key = b"/ByteRange [";
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = pdf[from..].windows(key.len()).position(|w| w == key) {
        let start = from + at + key.len();
        let text = std::str::from_utf8(&pdf[start..start + 50]).unwrap();
        let nums: Vec<usize> = text
            .split(']')
            .next()
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        out.push([nums[0], nums[1], nums[2], nums[3]]);
        from = start;
    }
    out
}

/// B-LT adds a DSS (certificates, CRLs, OCSP responses) in a further update; B-LTA then a
/// document time-stamp over everything. The seal's own signature stays intact under both.
async fn long_term_levels(app: TestApp) {
    let (op_a, _, seal) = seal_setup(&app).await;
    let original = sample_pdf(1);
    for level in ["B-LT", "B-LTA"] {
        let resp = post_pdf(
            &app,
            &op_a,
            &seal,
            &format!("?level={level}"),
            original.clone(),
        )
        .await;
        assert_eq!(resp.status(), 200, "{level}");
        let sealed = resp.bytes().await.unwrap().to_vec();
        assert!(sealed.starts_with(&original));
        let ranges = byte_ranges(&sealed);
        // The seal: intact over the prefix it signed, with its signature time-stamp.
        let [_, _, c, d] = ranges[0];
        assert!(
            c + d < sealed.len(),
            "{level}: later updates follow the seal"
        );
        assert!(
            check_last_signature(&sealed[..c + d]),
            "{level}: seal time-stamped"
        );
        // The DSS: the chain and the TSA certificate, two CRLs, three good OCSP answers.
        let doc = Document::load_mem(&sealed).unwrap();
        let root_id = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
        let catalog = doc.get_dictionary(root_id).unwrap();
        let dss_id = catalog.get(b"DSS").unwrap().as_reference().unwrap();
        let dss = doc.get_dictionary(dss_id).unwrap();
        let items = |key: &[u8]| -> Vec<Vec<u8>> {
            dss.get(key)
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let s = doc
                        .get_object(r.as_reference().unwrap())
                        .unwrap()
                        .as_stream()
                        .unwrap();
                    s.decompressed_content()
                        .unwrap_or_else(|_| s.content.clone())
                })
                .collect()
        };
        assert_eq!(items(b"Certs").len(), 4);
        for crl in items(b"CRLs") {
            x509_parser::parse_x509_crl(&crl).unwrap();
        }
        let ocsps = items(b"OCSPs");
        assert_eq!(ocsps.len(), 3);
        for der in ocsps {
            let r = x509_ocsp::OcspResponse::from_der(&der).unwrap();
            let basic = x509_ocsp::BasicOcspResponse::from_der(
                r.response_bytes.unwrap().response.as_bytes(),
            )
            .unwrap();
            assert_eq!(
                basic.tbs_response_data.responses[0].cert_status,
                x509_ocsp::CertStatus::good()
            );
        }
        if level == "B-LTA" {
            // The document time-stamp: last, over the whole file, a token on its byte ranges.
            assert_eq!(ranges.len(), 2);
            let [a, b, c, d] = ranges[1];
            assert_eq!((a, c + d), (0, sealed.len()));
            assert!(String::from_utf8_lossy(&sealed[ranges[0][2]..b])
                .contains("/Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161"));
            let token = hex::decode(&sealed[b + 1..c - 1]).unwrap();
            let mut reader = SliceReader::new(&token).unwrap();
            let info = ContentInfo::decode(&mut reader).unwrap();
            let signed = SignedData::from_der(&info.content.to_der().unwrap()).unwrap();
            assert_eq!(
                signed.encap_content_info.econtent_type.to_string(),
                "1.2.840.113549.1.9.16.1.4",
                "id-ct-TSTInfo"
            );
            let tst =
                x509_tsp::TstInfo::from_der(signed.encap_content_info.econtent.unwrap().value())
                    .unwrap();
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            ctx.update(&sealed[..b]);
            ctx.update(&sealed[c..]);
            assert_eq!(
                tst.message_imprint.hashed_message.as_bytes(),
                ctx.finish().as_ref()
            );
        } else {
            assert_eq!(ranges.len(), 1);
        }
    }
}

/// The placement and the signature's details are where the request asked, read back from
/// the output (not assumed): page 2's widget has the asked /Rect and /P, page 2's /Annots
/// holds it, and the signature dictionary has /Reason and /Location.
async fn placement_is_read_back(app: TestApp) {
    let (op_a, _, seal) = seal_setup(&app).await;
    let original = sample_pdf(3);
    let resp = post_pdf(
        &app,
        &op_a,
        &seal,
        "?page=2&x=100&y=200&width=150&reason=%E5%AE%A1%E6%89%B9&location=Fuzhou",
        original.clone(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let sealed = resp.bytes().await.unwrap().to_vec();
    let doc = Document::load_mem(&sealed).unwrap();
    let pages = doc.get_pages();
    let page2 = pages[&2];
    let widget_id = doc
        .objects
        .iter()
        .filter(|(id, _)| id.0 as usize >= Document::load_mem(&original).unwrap().max_id as usize)
        .find(|(_, o)| {
            o.as_dict().is_ok_and(|d| {
                d.get(b"FT").and_then(Object::as_name).ok() == Some(b"Sig")
                    && d.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Widget")
            })
        })
        .map(|(id, _)| *id)
        .expect("a new signature widget");
    let widget = doc.get_dictionary(widget_id).unwrap();
    assert_eq!(widget.get(b"P").unwrap().as_reference().unwrap(), page2);
    let rect: Vec<f64> = widget
        .get(b"Rect")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            n.as_float()
                .map(f64::from)
                .or_else(|_| n.as_i64().map(|i| i as f64))
                .unwrap()
        })
        .collect();
    assert!(
        (rect[0] - 100.0).abs() < 0.01 && (rect[1] - 200.0).abs() < 0.01,
        "{rect:?}"
    );
    assert!((rect[2] - rect[0] - 150.0).abs() < 0.01, "width: {rect:?}");
    let annots = doc
        .get_dictionary(page2)
        .unwrap()
        .get(b"Annots")
        .unwrap()
        .clone();
    let annots = match annots {
        Object::Reference(id) => doc.get_object(id).unwrap().as_array().unwrap().clone(),
        Object::Array(a) => a,
        other => panic!("/Annots is {other:?}"),
    };
    assert!(annots.contains(&Object::Reference(widget_id)));
    for (n, id) in &pages {
        if *n != 2 {
            let p = doc.get_dictionary(*id).unwrap();
            assert!(p.get(b"Annots").is_err(), "page {n} got an annotation");
        }
    }
    let sig = doc
        .get_dictionary(widget.get(b"V").unwrap().as_reference().unwrap())
        .unwrap();
    let utf16 = |o: &Object| {
        let b = o.as_str().unwrap();
        let units: Vec<u16> = b[2..]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).unwrap_or_else(|_| String::from_utf8_lossy(b).into())
    };
    assert_eq!(utf16(sig.get(b"Reason").unwrap()), "审批");
    assert_eq!(utf16(sig.get(b"Location").unwrap()), "Fuzhou");
}

/// A stream whose declared /Length does not end at `endstream`: readers disagree on what it
/// holds, so it is not sealed; verification reports it.
async fn ambiguous_stream_lengths_are_refused(app: TestApp) {
    let (op_a, _, seal) = seal_setup(&app).await;
    let good = sample_pdf(1);
    // The content stream's /Length, changed to a number of the same width (the xref offsets
    // stay right) that does not end at endstream.
    let key = b"<</Length ";
    let at = good.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    let digits = good[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut same = good.clone();
    same[at..at + digits].fill(b'9');
    let resp = post_pdf(&app, &op_a, &seal, "", same.clone()).await;
    let p = assert_problem(resp, 422).await;
    assert_eq!(p["type"], "/problems/malformed-pdf");
    assert!(p["detail"].as_str().unwrap().contains("/Length"), "{p}");
    // Verification reads it, and says so.
    let report = verify_report(&app, &same).await.unwrap();
    assert!(
        report["warnings"].to_string().contains("/Length"),
        "{report}"
    );
}

/// A PDF above the in-memory limit of uploads (1 MiB) goes to disk and is sealed from its
/// skeleton (`pdf::sparse`): sealed twice, with a table and with object streams, it verifies,
/// both seals intact, and keeps the original as a prefix.
async fn a_large_file_is_sealed_from_disk(app: TestApp) {
    let (op_a, _, seal) = seal_setup(&app).await;
    for modern in [false, true] {
        let mut doc = Document::load_mem(&sample_pdf(2)).unwrap();
        let padding = "BT /F1 10 Tf 72 600 Td (padding) Tj ET\n".repeat(40_000);
        let page = *doc.get_pages().get(&2).unwrap();
        let content = doc.add_object(Stream::new(dictionary! {}, padding.into_bytes()));
        doc.get_dictionary_mut(page)
            .unwrap()
            .set("Contents", Object::Reference(content));
        let mut original = Vec::new();
        if modern {
            doc.save_modern(&mut original).unwrap();
        } else {
            doc.save_to(&mut original).unwrap();
        }
        assert!(original.len() > 1024 * 1024, "{}", original.len());
        let resp = post_pdf(&app, &op_a, &seal, "?level=B-T", original.clone()).await;
        assert_eq!(resp.status(), 200);
        let once = resp.bytes().await.unwrap().to_vec();
        assert!(once.starts_with(&original));
        let resp = post_pdf(&app, &op_a, &seal, "?page=1", once.clone()).await;
        assert_eq!(resp.status(), 200);
        let twice = resp.bytes().await.unwrap().to_vec();
        assert!(twice.starts_with(&once));
        assert_eq!(Document::load_mem(&twice).unwrap().get_pages().len(), 2);
        // Larger than the public may send: verified with an auditor's key.
        let (_, auditor) = app.create_key("auditor", None).await;
        let resp = app
            .client
            .post(app.url("/api/v1/verify/pdf"))
            .bearer_auth(&auditor)
            .header("content-type", "application/pdf")
            .body(twice)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let report: serde_json::Value = resp.json().await.unwrap();
        let signatures = report["signatures"].as_array().unwrap();
        assert_eq!(signatures.len(), 2, "{report}");
        for s in signatures {
            assert_eq!(s["indication"], "TOTAL-PASSED", "{report}");
        }
    }
}

dual_tests!(
    a_large_file_is_sealed_from_disk,
    placement_is_read_back,
    ambiguous_stream_lengths_are_refused,
    long_term_levels,
    stamps_pades_b_t_and_b_b,
    refuses_bad_documents_and_options,
    uploaded_appearance
);

/// Every sample of `TRUSTD_SAMPLES_DIR/MANIFEST.tsv` gets what the manifest says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_samples() {
    let Ok(dir) = std::env::var("TRUSTD_SAMPLES_DIR") else {
        eprintln!("TRUSTD_SAMPLES_DIR not set: sample PDFs skipped");
        return;
    };
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let (op_a, _, seal) = seal_setup(&app).await;
    let manifest = std::fs::read_to_string(format!("{dir}/MANIFEST.tsv")).unwrap();
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, expected) = (cols[0], cols[9]);
        let Ok(bytes) = std::fs::read(format!("{dir}/{file}")) else {
            continue;
        };
        if bytes.len() > 2 * 1024 * 1024 {
            continue; // larger than the test server's upload limit
        }
        let resp = post_pdf(&app, &op_a, &seal, "", bytes.clone()).await;
        let status = resp.status().as_u16();
        match expected {
            "seal-ok" => {
                assert_eq!(status, 200, "{file}");
                let sealed = resp.bytes().await.unwrap().to_vec();
                assert!(sealed.starts_with(&bytes), "{file}");
                assert!(check_last_signature(&sealed), "{file}");
                // The verifier reads the sealed sample: our seal passes.
                let report = verify_report(&app, &sealed).await.unwrap();
                let ours = report["signatures"]
                    .as_array()
                    .unwrap()
                    .last()
                    .unwrap()
                    .clone();
                assert_eq!(ours["indication"], "TOTAL-PASSED", "{file}: {report}");
            }
            "reject-encrypted" => {
                let p = assert_problem(resp, 422).await;
                assert_eq!(p["type"], "/problems/encrypted-pdf", "{file}");
            }
            "reject-malformed" => {
                let p = assert_problem(resp, 422).await;
                assert_eq!(p["type"], "/problems/malformed-pdf", "{file}");
            }
            other => {
                assert!(
                    (400..500).contains(&status) || status == 200,
                    "{file}: {other} got {status}"
                );
            }
        }
        // Every sample, good or bad, gets a report or a 4xx from the verifier, never a 5xx.
        match verify_report(&app, &bytes).await {
            Ok(report) => assert!(report["indication"].is_string(), "{file}"),
            Err(status) => assert!((400..500).contains(&status), "{file}: verify got {status}"),
        }
        checked += 1;
    }
    assert!(checked > 0, "no samples checked");
}

/// `POST /api/v1/verify/pdf` with `pdf` as the body.
pub async fn post_verify(app: &TestApp, pdf: &[u8]) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/verify/pdf"))
        .header("content-type", "application/pdf")
        .body(pdf.to_vec())
        .send()
        .await
        .unwrap()
}

/// The verification report of a PDF, or the HTTP status when there is none.
pub async fn verify_report(app: &TestApp, pdf: &[u8]) -> Result<Value, u16> {
    let resp = post_verify(app, pdf).await;
    match resp.status().as_u16() {
        200 => Ok(resp.json().await.unwrap()),
        other => Err(other),
    }
}
