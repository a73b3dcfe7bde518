//! Identifiers and query parameters from URLs and JSON: licence identifiers (`/v/{id}`),
//! unified social credit codes, citizen ID numbers, department names, cursors, times and
//! page limits. What parses must print back to itself.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use trustd::admin::departments::DepartmentName;
use trustd::codes::{CitizenId, CreditCode};
use trustd::http::params;
use trustd::licence::identifier::LicenceIdentifier;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = LicenceIdentifier::parse(s) {
        let again = LicenceIdentifier::parse(id.as_str()).expect("a parsed identifier parses");
        assert_eq!(again.as_str(), id.as_str());
        let parts = format!(".{}.{}.{}.", id.type_code(), id.issuer_code(), id.serial());
        assert!(id.as_str().contains(&parts), "{s}");
        let inst = common::installation();
        let _ = inst
            .rt
            .block_on(trustd::licence::public_status(&inst.ctx, s));
        let _ = inst
            .rt
            .block_on(trustd::licence::verify_identifier(&inst.ctx, s));
    }
    if let Ok(code) = CreditCode::parse(s) {
        assert!(CreditCode::parse(code.as_str()).is_ok());
    }
    if let Ok(id) = CitizenId::parse(s) {
        assert!(CitizenId::parse(id.as_str()).is_ok());
    }
    let _ = trustd::codes::mod37_36_check(s);
    let _ = DepartmentName::parse(s);
    let _ = trustd::licence::identifier::is_type_code(s);
    let _ = trustd::licence::mask_name(s);
    let _ = trustd::licence::mask_code(s);
    let _ = params::decode_cursor("events", Some(s));
    let _ = params::parse_time("since", Some(s));
    let _ = params::limit(Some(s));
});
