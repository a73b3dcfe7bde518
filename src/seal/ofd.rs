//! Sealing an OFD (GB/T 33190 §18, GB/T 38540 §8; ARCHITECTURE.md §11): `Sign_N/Seal.esl`, a
//! `Signature.xml` whose `References` give the SM3 of every file of the package, a
//! `StampAnnot` on the chosen page, and `SignedValue.dat`, the DER `SES_Signature` v4 over
//! the SM3 of `Signature.xml`, with an RFC 3161 token from the SM2 TSA over the signature.
//!
//! `Signatures.xml` is left out of the references (the "continue" rule, as ofdrw's
//! ContinueSign): a later seal rewrites it, and earlier seals stay valid. Everything else that
//! is there when sealing is covered, so any file changed or added afterwards (other than a
//! later seal's own files) breaks this seal.

use base64::Engine;

use crate::keys::Signer;
use crate::ofd::xml::{self, escape};
use crate::ofd::{dir_of, resolve, ses, OfdError, Package};
use crate::pki::oid;

const NS: &str = "http://www.ofdspec.org/2016";
/// Default location of the signatures list of the first document.
const DEFAULT_SIGNATURES: &str = "Doc_0/Signs/Signatures.xml";

/// Where the stamp goes, in millimetres from the page's top-left corner (OFD's coordinates).
#[derive(Debug, Clone, Copy)]
pub struct OfdPlacement {
    /// 1-based; `None` = the last page.
    pub page: Option<u32>,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// Who seals: the seal's SM2 key and certificate, its SESeal, the SM2 TSA, the time.
pub struct OfdSigning<'a> {
    pub key: &'a dyn Signer,
    pub certificate: &'a [u8],
    pub esl: &'a [u8],
    pub tsa: &'a crate::pki::tsa::Tsa,
    pub now: time::OffsetDateTime,
}

/// Why sealing failed: the document's fault (4xx) or ours (signing).
#[derive(Debug, thiserror::Error)]
pub enum SealOfdError {
    #[error(transparent)]
    Document(#[from] OfdError),
    #[error("page: {0}")]
    Page(String),
    #[error("signing failed")]
    Signing,
}

/// What sealing made.
#[derive(Debug)]
pub struct SealedOfd {
    pub bytes: Vec<u8>,
    /// The new `Signature.xml`'s path.
    pub signature_path: String,
    pub pages: usize,
}

fn malformed(what: impl Into<String>) -> SealOfdError {
    SealOfdError::Document(OfdError::Malformed(what.into()))
}

/// One entry of `Signatures.xml`.
struct Listed {
    id: String,
    kind: Option<String>,
    base_loc: String,
}

/// The pages of a document, in order: (ID, content path).
fn pages(package: &Package, doc_root: &str) -> Result<Vec<(String, String)>, SealOfdError> {
    let doc = xml::parse(
        package
            .get(doc_root)
            .ok_or_else(|| malformed(format!("{doc_root} is missing")))?,
    )
    .map_err(|e| malformed(format!("{doc_root}: {e}")))?;
    let base = dir_of(doc_root);
    let mut out = Vec::new();
    if let Some(list) = doc.child("Pages") {
        for page in list.children_named("Page") {
            let id = page
                .attribute("ID")
                .ok_or_else(|| malformed("a Page has no ID"))?;
            let loc = page
                .attribute("BaseLoc")
                .and_then(|l| resolve(base, l))
                .ok_or_else(|| malformed("a Page has no usable BaseLoc"))?;
            out.push((id.to_owned(), loc));
        }
    }
    if out.is_empty() {
        return Err(malformed(format!("{doc_root} lists no page")));
    }
    Ok(out)
}

fn listed(package: &Package, path: &str) -> Result<(u64, Vec<Listed>), SealOfdError> {
    let Some(bytes) = package.get(path) else {
        return Ok((0, Vec::new()));
    };
    let root = xml::parse(bytes).map_err(|e| malformed(format!("{path}: {e}")))?;
    let mut max = root
        .child("MaxSignId")
        .and_then(|m| m.text.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut out = Vec::new();
    for s in root.children_named("Signature") {
        let id = s.attribute("ID").unwrap_or_default().to_owned();
        max = max.max(id.parse().unwrap_or(0));
        out.push(Listed {
            id,
            kind: s.attribute("Type").map(str::to_owned),
            base_loc: s.attribute("BaseLoc").unwrap_or_default().to_owned(),
        });
    }
    Ok((max, out))
}

/// `OFD.xml` with a `Signatures` element after the first `DocRoot`, when it has none.
fn with_signatures_entry(ofd_xml: &[u8], path: &str) -> Result<Vec<u8>, SealOfdError> {
    let text = std::str::from_utf8(ofd_xml).map_err(|_| malformed("OFD.xml is not UTF-8"))?;
    // The first closing tag `</DocRoot>` or `</prefix:DocRoot>`.
    let close = text
        .match_indices("DocRoot>")
        .find_map(|(i, m)| {
            let start = text[..i].rfind('<')?;
            let tag = &text[start..i];
            (tag.starts_with("</") && !tag.contains(char::is_whitespace))
                .then_some((start, i + m.len()))
        })
        .ok_or_else(|| malformed("OFD.xml has no closing DocRoot tag"))?;
    let prefix = &text[close.0 + 2..close.1 - "DocRoot>".len()];
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(&text[..close.1]);
    out.push_str(&format!(
        "<{prefix}Signatures>/{}</{prefix}Signatures>",
        escape(path)
    ));
    out.push_str(&text[close.1..]);
    Ok(out.into_bytes())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `Signatures.xml` listing the earlier seals and the new one.
fn signatures_xml(max_id: u64, entries: &[Listed]) -> Vec<u8> {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ofd:Signatures xmlns:ofd=\"{NS}\"><ofd:MaxSignId>{max_id}</ofd:MaxSignId>"
    );
    for e in entries {
        out.push_str(&format!("<ofd:Signature ID=\"{}\"", escape(&e.id)));
        if let Some(kind) = &e.kind {
            out.push_str(&format!(" Type=\"{}\"", escape(kind)));
        }
        out.push_str(&format!(" BaseLoc=\"{}\"/>", escape(&e.base_loc)));
    }
    out.push_str("</ofd:Signatures>");
    out.into_bytes()
}

/// The new seal's directory beside `Signatures.xml`: the first `Sign_k` not in the package.
fn free_sign_dir(package: &Package, signs_dir: &str) -> String {
    (0..)
        .map(|k| {
            if signs_dir.is_empty() {
                format!("Sign_{k}")
            } else {
                format!("{signs_dir}/Sign_{k}")
            }
        })
        .find(|dir| {
            let prefix = format!("{dir}/");
            !package.entries.iter().any(|e| e.name.starts_with(&prefix))
        })
        .unwrap_or_default()
}

/// The `Signature.xml` of a new seal.
struct SignatureXml<'a> {
    time: &'a str,
    references: &'a [(String, [u8; 32])],
    stamp_id: u64,
    page_id: &'a str,
    boundary: [f64; 4],
    seal_path: &'a str,
    value_path: &'a str,
}

impl SignatureXml<'_> {
    fn render(&self) -> Vec<u8> {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ofd:Signature xmlns:ofd=\"{NS}\"><ofd:SignedInfo>\
             <ofd:Provider ProviderName=\"trustd\" Version=\"{}\" Company=\"trustd\"/>\
             <ofd:SignatureMethod>{}</ofd:SignatureMethod>\
             <ofd:SignatureDateTime>{}</ofd:SignatureDateTime>\
             <ofd:References CheckMethod=\"{}\">",
            env!("CARGO_PKG_VERSION"),
            oid::SM2_WITH_SM3,
            self.time,
            oid::SM3
        );
        for (path, digest) in self.references {
            out.push_str(&format!(
                "<ofd:Reference FileRef=\"/{}\"><ofd:CheckValue>{}</ofd:CheckValue></ofd:Reference>",
                escape(path),
                b64(digest)
            ));
        }
        let [x, y, w, h] = self.boundary;
        out.push_str(&format!(
            "</ofd:References><ofd:StampAnnot ID=\"{}\" PageRef=\"{}\" Boundary=\"{x:.2} {y:.2} {w:.2} {h:.2}\"/>\
             <ofd:Seal><ofd:BaseLoc>/{}</ofd:BaseLoc></ofd:Seal></ofd:SignedInfo>\
             <ofd:SignedValue>/{}</ofd:SignedValue></ofd:Signature>",
            self.stamp_id,
            escape(self.page_id),
            escape(self.seal_path),
            escape(self.value_path)
        ));
        out.into_bytes()
    }
}

/// The first document's signatures list: the one OFD.xml names, or a new one (OFD.xml then
/// names it, before any digest is taken). It must not be a file of the document: it is the one
/// file no seal covers.
fn signatures_list(
    package: &mut Package,
    docs: &[crate::ofd::DocBody],
    pages: &[(String, String)],
) -> Result<String, SealOfdError> {
    let doc = &docs[0];
    let signatures_path = match &doc.signatures {
        Some(p) => p.clone(),
        None => {
            let path = match dir_of(&doc.doc_root) {
                "" => "Signs/Signatures.xml".to_owned(),
                d => format!("{d}/Signs/Signatures.xml"),
            };
            let path = if doc.doc_root == "Doc_0/Document.xml" {
                DEFAULT_SIGNATURES.to_owned()
            } else {
                path
            };
            let ofd = with_signatures_entry(package.get("OFD.xml").unwrap_or_default(), &path)?;
            package.put("OFD.xml", ofd);
            path
        }
    };
    // The signatures list is the one file no seal covers: it must not be a document's file.
    if docs.iter().any(|d| d.doc_root == signatures_path)
        || signatures_path == "OFD.xml"
        || pages.iter().any(|(_, p)| *p == signatures_path)
    {
        return Err(malformed(format!(
            "OFD.xml names {signatures_path}, a file of the document, as its signatures list"
        )));
    }
    Ok(signatures_path)
}

/// Seals the first document of `package` and returns the new package's bytes.
pub fn seal_ofd(
    mut package: Package,
    placement: OfdPlacement,
    signing: &OfdSigning<'_>,
) -> Result<SealedOfd, SealOfdError> {
    let docs = package.documents()?;
    let doc = &docs[0];
    let pages = pages(&package, &doc.doc_root)?;
    let page = match placement.page {
        None => pages.len(),
        Some(p) => usize::try_from(p).unwrap_or(usize::MAX),
    };
    let (page_id, _) = pages
        .get(page.wrapping_sub(1))
        .ok_or_else(|| SealOfdError::Page(format!("the document has {} page(s)", pages.len())))?;
    let signatures_path = signatures_list(&mut package, &docs, &pages)?;
    let (max_id, mut entries) = listed(&package, &signatures_path)?;
    let sign_dir = free_sign_dir(&package, dir_of(&signatures_path));
    let seal_path = format!("{sign_dir}/Seal.esl");
    let signature_path = format!("{sign_dir}/Signature.xml");
    let value_path = format!("{sign_dir}/SignedValue.dat");
    package.put(&seal_path, signing.esl.to_vec());
    // Every file but the signatures lists (rewritten by later seals) and what follows from
    // the digests themselves.
    let lists: Vec<String> = docs.iter().filter_map(|d| d.signatures.clone()).collect();
    let references: Vec<(String, [u8; 32])> = package
        .entries
        .iter()
        .filter(|e| e.name != signatures_path && !lists.contains(&e.name))
        .map(|e| (e.name.clone(), crate::keys::sm2::sm3(&e.data)))
        .collect();
    let time = signing
        .now
        .format(time::macros::format_description!(
            "[year][month][day][hour][minute][second]Z"
        ))
        .map_err(|_| SealOfdError::Signing)?;
    let signature_xml = SignatureXml {
        time: &time,
        references: &references,
        stamp_id: max_id + 2,
        page_id,
        boundary: [placement.x, placement.y, placement.width, placement.height],
        seal_path: &seal_path,
        value_path: &value_path,
    }
    .render();
    let value = signed_value(&signature_xml, &signature_path, signing)?;
    package.put(&signature_path, signature_xml);
    package.put(&value_path, value);
    entries.push(Listed {
        id: (max_id + 1).to_string(),
        kind: Some("Seal".into()),
        base_loc: format!("/{signature_path}"),
    });
    package.put(&signatures_path, signatures_xml(max_id + 2, &entries));
    Ok(SealedOfd {
        bytes: package.write()?,
        signature_path,
        pages: pages.len(),
    })
}

/// `SignedValue.dat`: the SES_Signature over SM3(`Signature.xml`), time-stamped.
fn signed_value(
    signature_xml: &[u8],
    signature_path: &str,
    signing: &OfdSigning<'_>,
) -> Result<Vec<u8>, SealOfdError> {
    let failed = |_| SealOfdError::Signing;
    let data_hash = crate::keys::sm2::sm3(signature_xml);
    let tbs = ses::tbs_sign_der(
        signing.esl,
        signing.now.unix_timestamp(),
        &data_hash,
        &format!("/{signature_path}"),
    )
    .map_err(failed)?;
    let signature = signing.key.sign(&tbs).map_err(|_| SealOfdError::Signing)?;
    let token = signing
        .tsa
        .stamp_sm3(&signature, signing.now)
        .map_err(|_| SealOfdError::Signing)?;
    ses::signature_der(
        &tbs,
        signing.certificate,
        oid::SM2_WITH_SM3,
        &signature,
        Some(&token),
    )
    .map_err(failed)
}
