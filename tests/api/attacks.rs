//! Forgeries and benign controls from the attack corpus (`scripts/attacks/make_corpus.py`; a
//! fixed set of them is committed in `tests/fixtures/attacks/` with the corpus root), verified
//! offline at a fixed time so that the files never go stale: every forgery is refused or not
//! TOTAL-PASSED and its report names what is wrong; every control is TOTAL-PASSED.

use trustd::verify::{verify_offline, Anchor, Report};

/// 2026-12-01T00:00:00Z, the day after the fixtures were made.
const NOW: i64 = 1_796_083_200;

fn dir() -> String {
    format!("{}/tests/fixtures/attacks", env!("CARGO_MANIFEST_DIR"))
}

fn anchor(revocation_required: bool) -> Anchor {
    let pem = std::fs::read_to_string(format!("{}/root.pem", dir())).unwrap();
    let mut a = Anchor::new("corpus root", trustd::pki::pem_certificates(&pem).remove(0));
    a.revocation_required = revocation_required;
    a
}

fn verify(file: &str, revocation_required: bool) -> Result<Report, String> {
    let bytes = std::fs::read(format!("{}/{file}", dir())).unwrap();
    verify_offline(
        &bytes,
        &[anchor(revocation_required)],
        NOW,
        &Default::default(),
    )
}

fn json(r: &Report) -> serde_json::Value {
    serde_json::to_value(r).unwrap()
}

#[test]
fn every_committed_case_gets_its_verdict() {
    let manifest = std::fs::read_to_string(format!("{}/MANIFEST.tsv", dir())).unwrap();
    let mut rows = 0;
    for line in manifest.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, expect, _class, must, _what, revocation] = cols[..] else {
            panic!("bad manifest row {line}");
        };
        rows += 1;
        match verify(file, revocation == "required") {
            Err(refusal) => {
                assert_eq!(expect, "NOT-PASSED", "{file} refused: {refusal}");
                assert!(
                    refusal.to_lowercase().contains(must),
                    "{file}: refusal does not name {must}: {refusal}"
                );
            }
            Ok(report) => {
                let text = json(&report).to_string().to_lowercase();
                let indication = text_of(&report);
                match expect {
                    "TOTAL-PASSED" => assert_eq!(indication, "TOTAL-PASSED", "{file}: {text}"),
                    "NOT-PASSED" => assert_ne!(indication, "TOTAL-PASSED", "{file}: {text}"),
                    other => assert_eq!(indication, other, "{file}: {text}"),
                }
                if must != "-" {
                    assert!(
                        text.contains(must),
                        "{file}: the report does not name {must}: {text}"
                    );
                }
            }
        }
    }
    assert!(rows >= 15, "only {rows} rows");
}

fn text_of(r: &Report) -> String {
    json(r)["indication"].as_str().unwrap().to_owned()
}

#[test]
fn a_bad_time_stamp_rescues_nothing() {
    // The signer's certificate has expired; its time-stamp would prove the signature older,
    // but its imprint does not match the signature (or its TSA is not trusted).
    for file in [
        "ts-imprint-mismatch-expired-signer.pdf",
        "ts-untrusted-tsa-expired-signer.pdf",
    ] {
        let r = json(&verify(file, false).unwrap());
        let s = &r["signatures"][0];
        assert_eq!(s["indication"], "INDETERMINATE", "{file}: {s:#}");
        assert_eq!(s["sub_indication"], "OUT_OF_BOUNDS_NO_POE", "{file}: {s:#}");
        assert!(
            s["notes"].to_string().contains("time-stamp is ignored"),
            "{s:#}"
        );
    }
    // The same with a good time-stamp passes: the time-stamp is what made the difference.
    let r = json(&verify("benign-expired-signer-valid-ts.pdf", false).unwrap());
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r:#}");
}

#[test]
fn revocation_data_is_judged() {
    // An OCSP 'good' signed by a certificate without id-kp-OCSPSigning is ignored.
    let r = json(&verify("rev-ocsp-bad-responder-only.pdf", true).unwrap());
    assert_eq!(r["sub_indication"], "TRY_LATER", "{r:#}");
    assert!(r["signatures"][0]["revocation"][0]["ignored"]
        .to_string()
        .contains("id-kp-OCSPSigning"));
    // A B-LT file whose embedded CRL (or OCSP answer) says revoked fails offline.
    for file in ["rev-crl-revoked.pdf", "rev-ocsp-revoked.pdf"] {
        let r = json(&verify(file, true).unwrap());
        assert_eq!(r["indication"], "INDETERMINATE", "{file}: {r:#}");
        assert_eq!(r["sub_indication"], "REVOKED_NO_POE", "{file}: {r:#}");
        assert_eq!(r["signatures"][0]["revocation"][0]["now"], "revoked");
    }
    // A good CRL from the issuer is enough when revocation is required.
    let r = json(&verify("benign-rev-crl-good.pdf", true).unwrap());
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r:#}");
    assert_eq!(r["signatures"][0]["revocation"][0]["source"], "dss-crl");
}

#[test]
fn time_stamps_alone_sign_nothing() {
    let r = json(&verify("timestamp-only.pdf", false).unwrap());
    assert_eq!(r["indication"], "INDETERMINATE");
    assert_eq!(r["sub_indication"], "NO_SIGNATURE_FOUND");
    // A document time-stamp with fractional seconds (RFC 3161 allows them) is read.
    let r = json(&verify("benign-doc-timestamp-fractional.pdf", false).unwrap());
    assert_eq!(r["indication"], "TOTAL-PASSED", "{r:#}");
}
