//! Verification of documents made by another tool (pyHanko, committed in
//! `tests/fixtures/pyhanko/`, see its README): the verifier is not judged only against its own
//! writer. DocMDP P=1 and P=2, RSA `adbe.pkcs7.detached`, sequential signatures that touch
//! `/Info`, form filling then a second signature, and changes after a P=1 certification.

use trustd::verify::{verify_offline, Anchor, Indication, Purpose, Report};

const ROOT: &str = include_str!("../fixtures/pyhanko/root.pem");

fn anchor(revocation_required: bool, purposes: &[Purpose]) -> Anchor {
    let der = trustd::pki::pem_certificates(ROOT).remove(0);
    Anchor {
        label: "Corpus Root CA".into(),
        der,
        purposes: purposes.to_vec(),
        revocation_required,
    }
}

fn verify_with(name: &str, anchor: Anchor) -> Report {
    let path = format!(
        "{}/tests/fixtures/pyhanko/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    verify_offline(&bytes, &[anchor], now, &Default::default()).unwrap()
}

fn verify(name: &str) -> serde_json::Value {
    serde_json::to_value(verify_with(name, anchor(false, &Purpose::ALL))).unwrap()
}

#[test]
fn pyhanko_documents_verify() {
    for (name, signatures) in [
        ("docmdp-p1.pdf", 1),
        ("docmdp-p2.pdf", 1),
        ("docmdp-p2-filled-signed.pdf", 2),
        ("rsa-pkcs7-detached.pdf", 1),
        ("two-signatures.pdf", 2),
    ] {
        let r = verify(name);
        assert_eq!(r["indication"], "TOTAL-PASSED", "{name}: {r:#}");
        let sigs = r["signatures"].as_array().unwrap();
        assert_eq!(sigs.len(), signatures, "{name}");
        for s in sigs {
            assert_eq!(s["indication"], "TOTAL-PASSED", "{name}: {s:#}");
        }
    }
    // What each one is, read back.
    let p1 = verify("docmdp-p1.pdf");
    assert_eq!(p1["signatures"][0]["kind"], "certification");
    let rsa = verify("rsa-pkcs7-detached.pdf");
    assert_eq!(rsa["signatures"][0]["sub_filter"], "adbe.pkcs7.detached");
    // The form was filled after the certification: allowed by P=2, and listed.
    let filled = verify("docmdp-p2-filled-signed.pdf");
    let first = &filled["signatures"][0];
    assert_eq!(first["modifications"], "allowed", "{first:#}");
    let changes = first["changes"].to_string();
    assert!(changes.contains("form filling is allowed"), "{changes}");
    // pyHanko's second signature rewrote /Info (/ModDate): allowed, not a forgery.
    let two = verify("two-signatures.pdf");
    assert_eq!(two["signatures"][0]["modifications"], "allowed");
    assert!(two["signatures"][0]["changes"]
        .to_string()
        .contains("document information"));
}

#[test]
fn changes_after_a_p1_certification_fail() {
    let r = verify("docmdp-p1-changed.pdf");
    assert_eq!(r["indication"], "TOTAL-FAILED", "{r:#}");
    let s = &r["signatures"][0];
    assert_eq!(s["sub_indication"], "SIG_CONSTRAINTS_FAILURE");
    assert!(s["notes"].to_string().contains("DocMDP P=1"), "{s:#}");
}

#[test]
fn revocation_and_purposes_of_the_anchor_count() {
    // No revocation data in the files: a root that requires it cannot confirm them.
    let r = verify_with("rsa-pkcs7-detached.pdf", anchor(true, &Purpose::ALL));
    assert_eq!(r.indication, Indication::Indeterminate);
    assert_eq!(r.sub_indication, Some("TRY_LATER"));
    // A root trusted only for time-stamps does not vouch for a document signer.
    let r = verify_with(
        "rsa-pkcs7-detached.pdf",
        anchor(false, &[Purpose::Timestamps]),
    );
    assert_eq!(r.indication, Indication::Indeterminate);
    assert_eq!(r.sub_indication, Some("NO_CERTIFICATE_CHAIN_FOUND"));
}

/// The forgeries of `../shared/pdf-samples/attacks/` (CI sets TRUSTD_SAMPLES_DIR; a user's
/// clone has none, and then this checks nothing).
#[test]
fn shared_attack_samples_are_not_passed() {
    let Ok(dir) = std::env::var("TRUSTD_SAMPLES_DIR") else {
        return;
    };
    let root = std::fs::read_to_string(format!("{dir}/existing-signer-root.pem")).unwrap();
    let der = trustd::pki::pem_certificates(&root).remove(0);
    let mut a = Anchor::new("sample root", der);
    a.revocation_required = false;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut seen = 0;
    for entry in std::fs::read_dir(format!("{dir}/attacks")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pdf") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let r = verify_offline(&bytes, std::slice::from_ref(&a), now, &Default::default()).unwrap();
        assert_eq!(r.indication, Indication::TotalFailed, "{}", path.display());
        assert_eq!(r.sub_indication, Some("SIG_CONSTRAINTS_FAILURE"));
        seen += 1;
    }
    assert!(
        seen >= 3,
        "the attack samples are missing from {dir}/attacks"
    );
    // The signed original itself passes.
    let bytes = std::fs::read(format!("{dir}/pyhanko-signed-once.pdf")).unwrap();
    let r = verify_offline(&bytes, &[a], now, &Default::default()).unwrap();
    assert_eq!(r.indication, Indication::TotalPassed);
}
