//! OFD documents (GB/T 33190-2016): the zip package, read with bounds against hostile input,
//! the few XML files a seal touches, and the GB/T 38540 structures of the seals themselves
//! (ARCHITECTURE.md §11). A leaf like `pdf`: formats only; signing and judging are in `seal`
//! and `verify`.

pub mod ses;
pub mod xml;
mod zipcheck;

use std::io::{Read, Write};

/// Why a package cannot be used. Every variant is the sender's fault (a 4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfdError {
    #[error("the file is not a readable zip package: {0}")]
    NotZip(String),
    #[error("the package entry {0:?} has an unsafe name (absolute, `..`, backslash or control characters)")]
    UnsafeName(String),
    #[error("the package has two entries named {0:?}")]
    Duplicate(String),
    #[error("the package entry {0:?} is encrypted")]
    Encrypted(String),
    #[error("the package unpacks to more than {0} bytes (a zip bomb?)")]
    TooLarge(u64),
    #[error("the package has more than {0} entries")]
    TooManyEntries(usize),
    #[error("the package has no OFD.xml at its root")]
    NoOfdXml,
    #[error("{0}")]
    Malformed(String),
}

/// Bounds on what one package may make the service read.
#[derive(Debug, Clone, Copy)]
pub struct OfdLimits {
    pub max_entries: usize,
    /// The sum of the uncompressed sizes.
    pub max_total_bytes: u64,
}

impl Default for OfdLimits {
    fn default() -> Self {
        OfdLimits {
            max_entries: 10_000,
            max_total_bytes: 256 * 1024 * 1024,
        }
    }
}

/// One file of the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path inside the package, without a leading `/`.
    pub name: String,
    pub data: Vec<u8>,
}

/// An OFD package: its files in their order.
#[derive(Debug, Clone, Default)]
pub struct Package {
    pub entries: Vec<Entry>,
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.chars().any(char::is_control)
        && name.split('/').all(|part| part != ".." && part != ".")
}

impl Package {
    /// Reads a zip package: stored or deflated entries only, no encryption, safe unique names,
    /// and at most `limits` of data (counted while inflating, not from the headers, which a
    /// hostile file can fill with anything). `OFD.xml` must be at the root.
    pub fn read(bytes: &[u8], limits: &OfdLimits) -> Result<Package, OfdError> {
        // The layout first (one reading only), then the crate reads what was checked.
        let names = zipcheck::check(bytes)?;
        if names.len() > limits.max_entries {
            return Err(OfdError::TooManyEntries(limits.max_entries));
        }
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| OfdError::NotZip(e.to_string()))?;
        if archive.len() != names.len() {
            return Err(OfdError::NotZip(
                "the zip reader sees another set of entries than the central directory".into(),
            ));
        }
        let mut entries = Vec::with_capacity(archive.len());
        let mut seen = std::collections::HashSet::new();
        let mut budget = limits.max_total_bytes;
        for i in 0..archive.len() {
            let file = archive
                .by_index_raw(i)
                .map_err(|e| OfdError::NotZip(e.to_string()))?;
            let name = String::from_utf8_lossy(file.name_raw()).into_owned();
            if names.get(i) != Some(&name) || file.name() != name {
                return Err(OfdError::NotZip(format!(
                    "entry {i} reads as {name:?} to one reader and otherwise to another"
                )));
            }
            if file.encrypted() {
                return Err(OfdError::Encrypted(name));
            }
            drop(file);
            let mut file = archive
                .by_index(i)
                .map_err(|e| OfdError::NotZip(format!("{name}: {e}")))?;
            let directory = name.ends_with('/');
            let checked = if directory {
                &name[..name.len() - 1]
            } else {
                name.as_str()
            };
            if !safe_name(checked) {
                return Err(OfdError::UnsafeName(name));
            }
            if directory {
                continue;
            }
            if !seen.insert(name.clone()) {
                return Err(OfdError::Duplicate(name));
            }
            let mut data = Vec::new();
            (&mut file)
                .take(budget + 1)
                .read_to_end(&mut data)
                .map_err(|e| OfdError::NotZip(format!("{name}: {e}")))?;
            budget = budget
                .checked_sub(data.len() as u64)
                .ok_or(OfdError::TooLarge(limits.max_total_bytes))?;
            entries.push(Entry { name, data });
        }
        if !entries.iter().any(|e| e.name == "OFD.xml") {
            return Err(OfdError::NoOfdXml);
        }
        Ok(Package { entries })
    }

    /// The zip bytes: every entry deflated, in order.
    pub fn write(&self) -> Result<Vec<u8>, OfdError> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for e in &self.entries {
            zip.start_file(e.name.as_str(), options)
                .and_then(|()| zip.write_all(&e.data).map_err(Into::into))
                .map_err(|err| OfdError::Malformed(format!("writing {}: {err}", e.name)))?;
        }
        zip.finish()
            .map(std::io::Cursor::into_inner)
            .map_err(|e| OfdError::Malformed(e.to_string()))
    }

    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.data.as_slice())
    }

    /// Adds a file, or replaces the one of that name in place.
    pub fn put(&mut self, name: &str, data: Vec<u8>) {
        match self.entries.iter_mut().find(|e| e.name == name) {
            Some(e) => e.data = data,
            None => self.entries.push(Entry {
                name: name.to_owned(),
                data,
            }),
        }
    }

    /// The documents of the package (GB/T 33190 §7.4): for each `DocBody`, the path of its
    /// `Document.xml` and of its `Signatures.xml` if it names one.
    pub fn documents(&self) -> Result<Vec<DocBody>, OfdError> {
        let ofd = xml::parse(self.get("OFD.xml").ok_or(OfdError::NoOfdXml)?)
            .map_err(|e| OfdError::Malformed(format!("OFD.xml: {e}")))?;
        let mut out = Vec::new();
        for body in ofd.children_named("DocBody") {
            let root = body
                .child("DocRoot")
                .map(|r| r.text.trim().to_owned())
                .ok_or_else(|| OfdError::Malformed("OFD.xml: a DocBody has no DocRoot".into()))?;
            let doc_root = resolve("", &root)
                .ok_or_else(|| OfdError::Malformed(format!("OFD.xml: bad DocRoot {root:?}")))?;
            let signatures = match body.child("Signatures") {
                Some(s) => Some(resolve("", s.text.trim()).ok_or_else(|| {
                    OfdError::Malformed(format!("OFD.xml: bad Signatures {:?}", s.text))
                })?),
                None => None,
            };
            out.push(DocBody {
                doc_root,
                signatures,
            });
        }
        if out.is_empty() {
            return Err(OfdError::Malformed("OFD.xml names no document".into()));
        }
        Ok(out)
    }
}

/// One document of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocBody {
    pub doc_root: String,
    pub signatures: Option<String>,
}

/// The directory part of a package path (`a/b/c.xml` → `a/b`).
pub fn dir_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// A path as written in an OFD file, resolved against the directory of the file that names
/// it: absolute (`/Doc_0/…`) from the package root, else relative. `None` when it leaves the
/// package or is empty.
pub fn resolve(base_dir: &str, path: &str) -> Option<String> {
    let path = path.trim();
    let mut parts: Vec<&str> = Vec::new();
    let joined = match path.strip_prefix('/') {
        Some(abs) => abs.to_owned(),
        None if base_dir.is_empty() => path.to_owned(),
        None => format!("{base_dir}/{path}"),
    };
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn paths_resolve_inside_the_package_only() {
        assert_eq!(
            resolve("Doc_0", "Pages/Page_0/Content.xml").as_deref(),
            Some("Doc_0/Pages/Page_0/Content.xml")
        );
        assert_eq!(
            resolve("Doc_0/Signs", "/Doc_0/Signs/Sign_0/Signature.xml").as_deref(),
            Some("Doc_0/Signs/Sign_0/Signature.xml")
        );
        assert_eq!(resolve("Doc_0", "../OFD.xml").as_deref(), Some("OFD.xml"));
        assert_eq!(resolve("Doc_0", "../../etc/passwd"), None);
        assert_eq!(resolve("", ""), None);
    }

    #[test]
    fn hostile_packages_are_refused() {
        let limits = OfdLimits::default();
        assert!(matches!(
            Package::read(b"not a zip", &limits),
            Err(OfdError::NotZip(_))
        ));
        let no_ofd = zip_of(&[("Doc_0/Document.xml", b"<x/>")]);
        assert_eq!(
            Package::read(&no_ofd, &limits).unwrap_err(),
            OfdError::NoOfdXml
        );
        let dotdot = zip_of(&[("OFD.xml", b"<x/>"), ("../evil", b"x")]);
        assert!(matches!(
            Package::read(&dotdot, &limits),
            Err(OfdError::UnsafeName(_))
        ));
        let absolute = zip_of(&[("OFD.xml", b"<x/>"), ("/etc/x", b"x")]);
        assert!(matches!(
            Package::read(&absolute, &limits),
            Err(OfdError::UnsafeName(_))
        ));
        // A bomb: 64 MiB of zeros deflate to a few kilobytes.
        let zeros = vec![0u8; 64 * 1024 * 1024];
        let bomb = zip_of(&[("OFD.xml", b"<x/>"), ("a", &zeros)]);
        assert!(bomb.len() < 1024 * 1024);
        let small = OfdLimits {
            max_entries: 10,
            max_total_bytes: 1024 * 1024,
        };
        assert!(matches!(
            Package::read(&bomb, &small),
            Err(OfdError::TooLarge(_))
        ));
        let many: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("f{i}"), vec![1u8])).collect();
        let mut refs: Vec<(&str, &[u8])> = vec![("OFD.xml", b"<x/>")];
        refs.extend(many.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
        assert!(matches!(
            Package::read(&zip_of(&refs), &small),
            Err(OfdError::TooManyEntries(_))
        ));
    }

    #[test]
    fn a_package_round_trips() {
        let bytes = zip_of(&[("OFD.xml", b"<ofd:OFD/>"), ("Doc_0/Document.xml", b"<d/>")]);
        let mut p = Package::read(&bytes, &OfdLimits::default()).unwrap();
        p.put("Doc_0/Signs/Signatures.xml", b"<s/>".to_vec());
        let again = Package::read(&p.write().unwrap(), &OfdLimits::default()).unwrap();
        assert_eq!(again.entries, p.entries);
    }
}
