//! What changed after a signature, revision by revision (ISO 32000-2 §12.8.2.2, the rules of
//! pyHanko's default diff policy): each revision after the signed one is compared with the one
//! before it, object by object, as resolved by each revision's own cross-reference data, so an
//! update that only points an object number at other bytes is a change. Every added, changed
//! or removed object must be justified by a rule chosen by the object's role in the earlier
//! revision (how the document reaches it: the catalog, a page, a form field, a widget, the
//! DSS…); a change of type is never allowed, the trailer `/Root` must not move, and a new
//! object is allowed only when an allowed change refers to it.
//!
//! Allowed after signing: DSS and VRI updates, document time-stamps, document information and
//! XMP metadata, new signature fields that end up signed, form filling unless DocMDP P=1 or a
//! FieldMDP lock forbids it, and annotations only under DocMDP P=3. Everything else is listed as
//! not allowed, with the object, its page and why, in words a clerk can read.

use std::collections::{BTreeMap, HashMap, HashSet};

use lopdf::{Dictionary, Document, Object, ObjectId};
use serde::Serialize;

/// Most objects walked when classifying one revision (a work bound on hostile input).
const MAX_WALK: usize = 4_000_000;

/// What the changes after a signature amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Modifications {
    None,
    Allowed,
    Disallowed,
}

/// One change after a signature, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The 1-based revision that made it.
    pub revision: usize,
    /// `N G` of the object, when the change is about one object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<usize>,
    /// What was done.
    pub what: String,
    pub allowed: bool,
    /// Why it is allowed or not.
    pub why: String,
}

/// How the document reaches an object, in the revision before a change.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Catalog,
    Info,
    Metadata,
    PageTree,
    Page(usize),
    Annots(usize),
    AcroForm,
    Fields,
    /// A form field (and perhaps its own widget); `sig` for signature fields.
    Field {
        sig: bool,
        name: String,
        page: Option<usize>,
    },
    /// A non-widget annotation on a page.
    Annotation(usize),
    /// An appearance stream (or appearance sub-dictionary) of a widget or annotation.
    Appearance {
        owner: ObjectId,
        page: Option<usize>,
    },
    SigDict,
    Dss,
    Perms,
    /// Page content, resources, fonts, outlines…: not to be changed.
    Content,
}

/// DocMDP permission (ISO 32000 §12.8.2.2.2), from the certification signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocMdp {
    /// Not certified: form filling and signing, no annotations (as pyHanko judges).
    None,
    P1,
    P2,
    P3,
}

impl DocMdp {
    fn forms(self) -> bool {
        self != DocMdp::P1
    }
    fn annotations(self) -> bool {
        self == DocMdp::P3
    }
}

fn resolve<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Object> {
    match o {
        Object::Reference(id) => doc.get_object(*id).ok(),
        o => Some(o),
    }
}

fn dict_of<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Dictionary> {
    match resolve(doc, o)? {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

fn name_of(d: &Dictionary, key: &[u8]) -> Option<Vec<u8>> {
    d.get(key).ok()?.as_name().ok().map(<[u8]>::to_vec)
}

fn text(o: &Object) -> String {
    match o {
        Object::String(bytes, _) => match bytes.strip_prefix(&[0xFE, 0xFF]) {
            Some(utf16) => {
                let units: Vec<u16> = utf16
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            }
            None => String::from_utf8_lossy(bytes).into_owned(),
        },
        Object::Name(n) => String::from_utf8_lossy(n).into_owned(),
        _ => String::new(),
    }
}

/// The DocMDP permission of a certified document: `/Perms /DocMDP` → the signature's
/// `/Reference` → `/TransformParams /P` (default 2).
pub fn docmdp(doc: &Document) -> DocMdp {
    let Some(catalog) = catalog(doc) else {
        return DocMdp::None;
    };
    let Some(sig) = catalog
        .get(b"Perms")
        .ok()
        .and_then(|p| dict_of(doc, p))
        .and_then(|p| p.get(b"DocMDP").ok())
        .and_then(|s| dict_of(doc, s))
    else {
        return DocMdp::None;
    };
    let p = sig
        .get(b"Reference")
        .ok()
        .and_then(|r| resolve(doc, r))
        .and_then(|r| r.as_array().ok())
        .into_iter()
        .flatten()
        .filter_map(|r| dict_of(doc, r))
        .filter(|r| name_of(r, b"TransformMethod").as_deref() == Some(b"DocMDP"))
        .find_map(|r| r.get(b"TransformParams").ok().and_then(|t| dict_of(doc, t)))
        .and_then(|t| t.get(b"P").ok().and_then(|p| p.as_i64().ok()))
        .unwrap_or(2);
    match p {
        1 => DocMdp::P1,
        3 => DocMdp::P3,
        _ => DocMdp::P2,
    }
}

fn catalog(doc: &Document) -> Option<&Dictionary> {
    let id = doc.trailer.get(b"Root").ok()?.as_reference().ok()?;
    doc.get_dictionary(id).ok()
}

/// The roles of a revision's objects, the fields' names, what is locked, and what page content
/// reaches (which no rule lets change).
#[derive(Default)]
pub struct Roles {
    of: HashMap<ObjectId, Role>,
    content: HashSet<ObjectId>,
    /// Fully qualified names of form fields a FieldMDP lock of a signed field covers; `None`
    /// inside means every field.
    locked: Vec<Option<Vec<String>>>,
    unlocked_except: Vec<Vec<String>>,
}

impl Roles {
    fn role(&self, id: ObjectId) -> Role {
        if self.content.contains(&id) {
            // Shared with page content: whatever else refers to it, content rules apply.
            if !matches!(
                self.of.get(&id),
                Some(Role::Page(_) | Role::PageTree | Role::Catalog)
            ) {
                return Role::Content;
            }
        }
        self.of.get(&id).cloned().unwrap_or(Role::Content)
    }

    fn is_locked(&self, name: &str) -> bool {
        self.locked.iter().any(|l| match l {
            None => true,
            Some(names) => names.iter().any(|n| n == name),
        }) || self
            .unlocked_except
            .iter()
            .any(|except| !except.iter().any(|n| n == name))
    }

    fn set(&mut self, id: ObjectId, role: Role) {
        self.of.entry(id).or_insert(role);
    }
}

/// Every object reachable from `start`, not following the keys in `skip` (anywhere), bounded.
fn reachable(doc: &Document, start: &[&Object], skip: &[&[u8]], into: &mut HashSet<ObjectId>) {
    let mut stack: Vec<&Object> = start.to_vec();
    while let Some(o) = stack.pop() {
        if into.len() > MAX_WALK {
            return;
        }
        match o {
            Object::Reference(id) => {
                if !into.insert(*id) {
                    continue;
                }
                if let Ok(target) = doc.get_object(*id) {
                    stack.push(target);
                }
            }
            Object::Array(items) => stack.extend(items.iter()),
            Object::Dictionary(d) => stack.extend(
                d.iter()
                    .filter(|(k, _)| !skip.contains(&k.as_slice()))
                    .map(|(_, v)| v),
            ),
            Object::Stream(s) => stack.extend(
                s.dict
                    .iter()
                    .filter(|(k, _)| !skip.contains(&k.as_slice()))
                    .map(|(_, v)| v),
            ),
            _ => {}
        }
    }
}

fn appearance_parts(doc: &Document, widget: &Dictionary) -> Vec<ObjectId> {
    let mut out = Vec::new();
    let Ok(ap) = widget.get(b"AP") else {
        return out;
    };
    if let Ok(id) = ap.as_reference() {
        out.push(id);
    }
    if let Some(ap) = dict_of(doc, ap) {
        for (_, v) in ap.iter() {
            if let Ok(id) = v.as_reference() {
                out.push(id);
            }
            if let Some(Object::Dictionary(states)) = resolve(doc, v) {
                out.extend(states.iter().filter_map(|(_, s)| s.as_reference().ok()));
            }
        }
    }
    out
}

/// Whether a field (or one of its ancestors) is a signature field.
fn field_type(doc: &Document, field: &Dictionary) -> Option<Vec<u8>> {
    let mut d = field;
    for _ in 0..32 {
        if let Some(ft) = name_of(d, b"FT") {
            return Some(ft);
        }
        d = d.get(b"Parent").ok().and_then(|p| dict_of(doc, p))?;
    }
    None
}

fn qualified_name(doc: &Document, field: &Dictionary) -> String {
    let mut parts = Vec::new();
    let mut d = field;
    for _ in 0..32 {
        if let Ok(t) = d.get(b"T") {
            parts.push(text(t));
        }
        match d.get(b"Parent").ok().and_then(|p| dict_of(doc, p)) {
            Some(p) => d = p,
            None => break,
        }
    }
    parts.reverse();
    parts.join(".")
}

/// FieldMDP locks (ISO 32000 §12.8.2.4) of the signed signature fields of `field`.
fn add_locks(doc: &Document, field: &Dictionary, roles: &mut Roles) {
    let Some(sig) = field.get(b"V").ok().and_then(|v| dict_of(doc, v)) else {
        return;
    };
    let mut params: Vec<&Dictionary> = Vec::new();
    if let Some(lock) = field.get(b"Lock").ok().and_then(|l| dict_of(doc, l)) {
        params.push(lock);
    }
    if let Some(refs) = sig
        .get(b"Reference")
        .ok()
        .and_then(|r| resolve(doc, r))
        .and_then(|r| r.as_array().ok())
    {
        for r in refs.iter().filter_map(|r| dict_of(doc, r)) {
            if name_of(r, b"TransformMethod").as_deref() == Some(b"FieldMDP") {
                if let Some(t) = r.get(b"TransformParams").ok().and_then(|t| dict_of(doc, t)) {
                    params.push(t);
                }
            }
        }
    }
    for p in params {
        let names: Vec<String> = p
            .get(b"Fields")
            .ok()
            .and_then(|f| resolve(doc, f))
            .and_then(|f| f.as_array().ok())
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default();
        match name_of(p, b"Action").as_deref() {
            Some(b"All") => roles.locked.push(None),
            Some(b"Include") => roles.locked.push(Some(names)),
            Some(b"Exclude") => roles.unlocked_except.push(names),
            _ => {}
        }
    }
}

/// How one revision reaches each of its objects (computed once per revision).
pub fn classify(doc: &Document) -> Roles {
    let mut roles = Roles::default();
    if let Ok(Object::Reference(info)) = doc.trailer.get(b"Info") {
        roles.set(*info, Role::Info);
    }
    let Some(root) = doc
        .trailer
        .get(b"Root")
        .ok()
        .and_then(|r| r.as_reference().ok())
    else {
        return roles;
    };
    roles.set(root, Role::Catalog);
    let Some(cat) = catalog(doc) else {
        return roles;
    };
    // What the catalog reaches outside the form, the DSS, metadata and the page tree (names,
    // outlines, actions…), and what the pages reach outside their annotations: content.
    let cat_obj = Object::Dictionary(cat.clone());
    let mut content = HashSet::new();
    reachable(
        doc,
        &[&cat_obj],
        &[
            b"AcroForm",
            b"DSS",
            b"Metadata",
            b"Perms",
            b"Pages",
            b"Parent",
        ],
        &mut content,
    );
    for (key, role) in [(&b"Metadata"[..], Role::Metadata), (b"Perms", Role::Perms)] {
        if let Ok(Object::Reference(id)) = cat.get(key) {
            roles.set(*id, role);
        }
    }
    // The page tree.
    let mut page_no = 0usize;
    if let Ok(top) = cat.get(b"Pages").and_then(Object::as_reference) {
        let mut stack = vec![top];
        let mut seen = HashSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) || seen.len() > MAX_WALK {
                break;
            }
            let Ok(node) = doc.get_dictionary(id) else {
                continue;
            };
            if let Ok(kids) = node.get(b"Kids").and_then(Object::as_array) {
                roles.set(id, Role::PageTree);
                stack.extend(kids.iter().rev().filter_map(|k| k.as_reference().ok()));
                // Inherited resources and boxes are content.
                let node_obj = Object::Dictionary(node.clone());
                reachable(doc, &[&node_obj], &[b"Kids", b"Parent"], &mut content);
                continue;
            }
            page_no += 1;
            roles.set(id, Role::Page(page_no));
            let page_obj = Object::Dictionary(node.clone());
            reachable(
                doc,
                &[&page_obj],
                &[b"Annots", b"Parent", b"B"],
                &mut content,
            );
            let annots = node.get(b"Annots").ok();
            if let Some(Object::Reference(a)) = annots {
                roles.set(*a, Role::Annots(page_no));
            }
            for annot in annots
                .and_then(|a| resolve(doc, a))
                .and_then(|a| a.as_array().ok())
                .into_iter()
                .flatten()
            {
                let Ok(aid) = annot.as_reference() else {
                    continue;
                };
                let Ok(a) = doc.get_dictionary(aid) else {
                    continue;
                };
                if name_of(a, b"Subtype").as_deref() == Some(b"Widget") {
                    let ft = field_type(doc, a);
                    roles.set(
                        aid,
                        Role::Field {
                            sig: ft.as_deref() == Some(b"Sig"),
                            name: qualified_name(doc, a),
                            page: Some(page_no),
                        },
                    );
                } else {
                    roles.set(aid, Role::Annotation(page_no));
                }
                for part in appearance_parts(doc, a) {
                    roles.set(
                        part,
                        Role::Appearance {
                            owner: aid,
                            page: Some(page_no),
                        },
                    );
                }
            }
        }
    }
    // The form.
    if let Ok(form) = cat.get(b"AcroForm") {
        if let Ok(id) = form.as_reference() {
            roles.set(id, Role::AcroForm);
        }
        if let Some(form) = dict_of(doc, form) {
            if let Ok(Object::Reference(f)) = form.get(b"Fields") {
                roles.set(*f, Role::Fields);
            }
            let mut stack: Vec<ObjectId> = form
                .get(b"Fields")
                .ok()
                .and_then(|f| resolve(doc, f))
                .and_then(|f| f.as_array().ok())
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_reference().ok())
                .collect();
            let mut seen = HashSet::new();
            while let Some(id) = stack.pop() {
                if !seen.insert(id) || seen.len() > MAX_WALK {
                    break;
                }
                let Ok(field) = doc.get_dictionary(id) else {
                    continue;
                };
                let sig = field_type(doc, field).as_deref() == Some(b"Sig");
                roles.set(
                    id,
                    Role::Field {
                        sig,
                        name: qualified_name(doc, field),
                        page: None,
                    },
                );
                for part in appearance_parts(doc, field) {
                    roles.set(
                        part,
                        Role::Appearance {
                            owner: id,
                            page: None,
                        },
                    );
                }
                if sig {
                    if let Ok(Object::Reference(v)) = field.get(b"V") {
                        roles.set(*v, Role::SigDict);
                    }
                    add_locks(doc, field, &mut roles);
                }
                if let Ok(kids) = field.get(b"Kids").and_then(Object::as_array) {
                    stack.extend(kids.iter().filter_map(|k| k.as_reference().ok()));
                }
            }
        }
    }
    // The DSS and everything in it.
    if let Ok(dss) = cat.get(b"DSS") {
        let mut parts = HashSet::new();
        reachable(doc, &[dss], &[], &mut parts);
        for id in parts {
            roles.set(id, Role::Dss);
        }
    }
    roles.content = content;
    roles
}

/// Whether two versions of an object are the same (stream positions aside).
fn same(a: &Object, b: &Object) -> bool {
    match (a, b) {
        (Object::Stream(x), Object::Stream(y)) => x.dict == y.dict && x.content == y.content,
        _ => a == b,
    }
}

/// What kind of object it is: its shape and its /Type, /Subtype and /FT.
type Kind = (
    &'static str,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

fn kind_of(o: &Object) -> Kind {
    let (k, d) = match o {
        Object::Dictionary(d) => ("dictionary", Some(d)),
        Object::Stream(s) => ("stream", Some(&s.dict)),
        Object::Array(_) => ("array", None),
        _ => ("value", None),
    };
    match d {
        Some(d) => (
            k,
            name_of(d, b"Type"),
            name_of(d, b"Subtype"),
            name_of(d, b"FT"),
        ),
        None => (k, None, None, None),
    }
}

fn is_xref_machinery(o: &Object) -> bool {
    match o {
        Object::Stream(s) => s.dict.has_type(b"XRef") || s.dict.has_type(b"ObjStm"),
        _ => false,
    }
}

fn dict_view(o: &Object) -> Option<&Dictionary> {
    match o {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

/// The keys whose values differ between two dictionaries.
fn changed_keys(old: &Dictionary, new: &Dictionary) -> Vec<String> {
    let mut keys: Vec<&Vec<u8>> = old.iter().map(|(k, _)| k).collect();
    keys.extend(new.iter().map(|(k, _)| k).filter(|k| !old.has(k)));
    keys.into_iter()
        .filter(|k| old.get(k).ok() != new.get(k).ok())
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

/// `new` keeps everything of `old` (dictionaries may gain keys, nothing else changes).
fn extends(old: &Object, new: &Object) -> bool {
    match (old, new) {
        (Object::Dictionary(o), Object::Dictionary(n)) => o
            .iter()
            .all(|(k, v)| n.get(k).is_ok_and(|nv| extends(v, nv))),
        _ => old == new,
    }
}

/// The judgement of one step from one revision to the next.
struct Step<'a> {
    old: &'a Document,
    new: &'a Document,
    last: &'a Document,
    revision: usize,
    mdp: DocMdp,
    roles: &'a Roles,
    new_roles: &'a Roles,
    changes: Vec<Change>,
    /// Objects an allowed change refers to: new objects must be among them.
    vouched: Vec<Object>,
}

impl Step<'_> {
    fn record(
        &mut self,
        id: Option<ObjectId>,
        page: Option<usize>,
        what: String,
        ok: Result<String, String>,
    ) {
        let (allowed, why) = match ok {
            Ok(w) => (true, w),
            Err(w) => (false, w),
        };
        self.changes.push(Change {
            revision: self.revision,
            object: id.map(|(n, g)| format!("{n} {g}")),
            page,
            what,
            allowed,
            why,
        });
    }

    /// New entries of an array (annotations or fields): each must be allowed.
    fn array_growth(
        &mut self,
        old: &[Object],
        new: &[Object],
        annots: bool,
    ) -> Result<String, String> {
        if !old.iter().all(|o| new.contains(o)) {
            return Err(if annots {
                "annotations of the signed revision were removed".into()
            } else {
                "form fields of the signed revision were removed".into()
            });
        }
        let mut notes = Vec::new();
        for item in new.iter().filter(|n| !old.contains(n)) {
            let d = dict_of(self.new, item);
            let subtype = d.and_then(|d| name_of(d, b"Subtype"));
            let sig = d.is_some_and(|d| field_type(self.new, d).as_deref() == Some(b"Sig"));
            let is_widget = subtype.as_deref() == Some(b"Widget");
            if sig && (is_widget || !annots) {
                notes.push("a signature field was added".to_owned());
                self.vouched.push(item.clone());
                continue;
            }
            if annots && !is_widget && self.mdp.annotations() {
                notes.push(format!(
                    "a {} annotation was added (the certification allows annotations, DocMDP P=3)",
                    subtype
                        .map(|s| String::from_utf8_lossy(&s).into_owned())
                        .unwrap_or_default()
                ));
                self.vouched.push(item.clone());
                continue;
            }
            return Err(if annots && !is_widget {
                format!(
                    "a {} annotation was added over the signed content; annotations may be added only to a document certified with DocMDP P=3",
                    subtype.map(|s| String::from_utf8_lossy(&s).into_owned()).unwrap_or_else(|| "new".into())
                )
            } else {
                "a form field other than a signature field was added".into()
            });
        }
        Ok(notes.join("; "))
    }

    fn judge_changed(&mut self, id: ObjectId, old: &Object, new: &Object) {
        let role = self.roles.role(id);
        let page = match &role {
            Role::Page(p) | Role::Annots(p) | Role::Annotation(p) => Some(*p),
            Role::Field { page, .. } | Role::Appearance { page, .. } => *page,
            _ => None,
        };
        if kind_of(old) != kind_of(new) {
            let what = "an object's type was changed".to_owned();
            self.record(
                Some(id),
                page,
                what,
                Err("an object may not change its type after signing".into()),
            );
            return;
        }
        let verdict: (String, Result<String, String>) = match &role {
            Role::Info => {
                self.vouched.push(new.clone());
                (
                    "document information (/Info) updated".into(),
                    Ok("metadata, not content".into()),
                )
            }
            Role::Metadata => {
                self.vouched.push(new.clone());
                (
                    "XMP metadata updated".into(),
                    Ok("metadata, not content".into()),
                )
            }
            Role::Dss => {
                self.vouched.push(new.clone());
                (
                    "validation data (DSS) updated".into(),
                    Ok("long-term validation data may be added".into()),
                )
            }
            Role::Catalog => self.catalog_change(old, new),
            Role::Page(n) => {
                let (Some(o), Some(nw)) = (dict_view(old), dict_view(new)) else {
                    return;
                };
                let keys = changed_keys(o, nw);
                if keys.iter().any(|k| k != "Annots") {
                    (
                        format!("page {n} was changed (/{})", keys.join(", /")),
                        Err(
                            "a page's content, resources or layout may not change after signing"
                                .into(),
                        ),
                    )
                } else {
                    let empty = Vec::new();
                    let oa = o
                        .get(b"Annots")
                        .ok()
                        .and_then(|a| resolve(self.old, a))
                        .and_then(|a| a.as_array().ok())
                        .unwrap_or(&empty)
                        .clone();
                    let na = nw
                        .get(b"Annots")
                        .ok()
                        .and_then(|a| resolve(self.new, a))
                        .and_then(|a| a.as_array().ok())
                        .unwrap_or(&empty)
                        .clone();
                    if let Ok(Object::Reference(r)) = nw.get(b"Annots") {
                        self.vouched.push(Object::Reference(*r));
                    }
                    (
                        format!("annotations of page {n} changed"),
                        self.array_growth(&oa, &na, true),
                    )
                }
            }
            Role::Annots(n) => {
                let (Ok(o), Ok(nw)) = (old.as_array(), new.as_array()) else {
                    return;
                };
                let (o, nw) = (o.clone(), nw.clone());
                (
                    format!("annotations of page {n} changed"),
                    self.array_growth(&o, &nw, true),
                )
            }
            Role::AcroForm => self.form_change(old, new),
            Role::Fields => {
                let (Ok(o), Ok(nw)) = (old.as_array(), new.as_array()) else {
                    return;
                };
                let (o, nw) = (o.clone(), nw.clone());
                (
                    "form fields changed".into(),
                    self.array_growth(&o, &nw, false),
                )
            }
            Role::Field {
                sig: true, name, ..
            } => {
                let (Some(o), Some(nw)) = (dict_view(old), dict_view(new)) else {
                    return;
                };
                let keys = changed_keys(o, nw);
                let what = format!(
                    "signature field \u{201c}{name}\u{201d} changed (/{})",
                    keys.join(", /")
                );
                if o.has(b"V") {
                    (
                        what,
                        Err("a field that was already signed may not change".into()),
                    )
                } else if keys
                    .iter()
                    .all(|k| ["V", "AP", "AS", "F", "MK", "DA"].contains(&k.as_str()))
                {
                    if let Ok(v) = nw.get(b"V") {
                        self.vouched.push(v.clone());
                    }
                    if let Ok(ap) = nw.get(b"AP") {
                        self.vouched.push(ap.clone());
                    }
                    (what, Ok("an empty signature field was signed".into()))
                } else {
                    (
                        what,
                        Err(
                            "only the value and appearance of an empty signature field may be set"
                                .into(),
                        ),
                    )
                }
            }
            Role::Field {
                sig: false, name, ..
            } => {
                let (Some(o), Some(nw)) = (dict_view(old), dict_view(new)) else {
                    return;
                };
                let keys = changed_keys(o, nw);
                let what = format!(
                    "form field \u{201c}{name}\u{201d} changed (/{})",
                    keys.join(", /")
                );
                if !keys.iter().all(|k| ["V", "AS", "AP"].contains(&k.as_str())) {
                    (
                        what,
                        Err("only a form field's value and appearance may change".into()),
                    )
                } else if !self.mdp.forms() {
                    (what, Err("the certification signature allows no changes (DocMDP P=1), not even form filling".into()))
                } else if self.roles.is_locked(name) {
                    (
                        what,
                        Err("the field is locked by a signature (FieldMDP)".into()),
                    )
                } else {
                    if let Ok(ap) = nw.get(b"AP") {
                        self.vouched.push(ap.clone());
                    }
                    if let Ok(v) = nw.get(b"V") {
                        self.vouched.push(v.clone());
                    }
                    (what, Ok("form filling is allowed".into()))
                }
            }
            Role::Appearance { owner, .. } => {
                let owner_role = self.roles.role(*owner);
                let what = "the appearance of a field or annotation changed".to_owned();
                let ok = match owner_role {
                    Role::Field {
                        sig: false, name, ..
                    } if self.mdp.forms() && !self.roles.is_locked(&name) => {
                        Ok("form filling is allowed".into())
                    }
                    Role::Field { sig: true, .. }
                        if !self.old.get_dictionary(*owner).is_ok_and(|d| d.has(b"V")) =>
                    {
                        Ok("an empty signature field was signed".into())
                    }
                    Role::Annotation(_) if self.mdp.annotations() => {
                        Ok("annotations may change (DocMDP P=3)".into())
                    }
                    _ => Err("this appearance may not change after signing".into()),
                };
                if ok.is_ok() {
                    self.vouched.push(new.clone());
                }
                (what, ok)
            }
            Role::Annotation(n) => {
                let ok = if self.mdp.annotations() {
                    self.vouched.push(new.clone());
                    Ok("annotations may change (DocMDP P=3)".into())
                } else {
                    Err(
                        "annotations may be changed only in a document certified with DocMDP P=3"
                            .into(),
                    )
                };
                (format!("an annotation on page {n} changed"), ok)
            }
            Role::SigDict => (
                "a signature dictionary was changed".into(),
                Err("a signature's own dictionary may not change".into()),
            ),
            Role::Perms => (
                "the document's permissions (/Perms) changed".into(),
                Err("the certification may not change".into()),
            ),
            Role::PageTree => (
                "the page tree was changed".into(),
                Err("pages may not be added, removed or reordered after signing".into()),
            ),
            Role::Content => (
                format!("{} was changed", describe(old)),
                Err("the signed content may not change".into()),
            ),
        };
        self.record(Some(id), page, verdict.0, verdict.1);
    }

    fn catalog_change(&mut self, old: &Object, new: &Object) -> (String, Result<String, String>) {
        let (Some(o), Some(n)) = (dict_view(old), dict_view(new)) else {
            return (
                "the catalog was changed".into(),
                Err("the catalog is not a dictionary".into()),
            );
        };
        let keys = changed_keys(o, n);
        let what = format!("the document catalog changed (/{})", keys.join(", /"));
        for k in &keys {
            match k.as_str() {
                "DSS" | "Metadata" => {
                    if let Ok(v) = n.get(k.as_bytes()) {
                        self.vouched.push(v.clone());
                    }
                }
                "Extensions" | "Version" => {}
                "AcroForm" => match (o.get(b"AcroForm").ok(), n.get(b"AcroForm").ok()) {
                    (Some(Object::Dictionary(_)), Some(Object::Dictionary(_))) => {
                        let (a, b) = (
                            o.get(b"AcroForm").ok().cloned().unwrap_or(Object::Null),
                            n.get(b"AcroForm").ok().cloned().unwrap_or(Object::Null),
                        );
                        let (_, r) = self.form_change(&a, &b);
                        if let Err(e) = r {
                            return (what, Err(e));
                        }
                    }
                    (None, Some(v)) => self.vouched.push(v.clone()),
                    _ => return (what, Err("the form may not be replaced".into())),
                },
                other => {
                    return (
                        what,
                        Err(format!(
                            "/{other} of the catalog may not change after signing"
                        )),
                    );
                }
            }
        }
        (what, Ok("validation data, metadata or the form".into()))
    }

    fn form_change(&mut self, old: &Object, new: &Object) -> (String, Result<String, String>) {
        let (Some(o), Some(n)) = (dict_view(old), dict_view(new)) else {
            return (
                "the form was changed".into(),
                Err("the form is not a dictionary".into()),
            );
        };
        let keys = changed_keys(o, n);
        let what = format!("the form (AcroForm) changed (/{})", keys.join(", /"));
        for k in &keys {
            match k.as_str() {
                "SigFlags" | "NeedAppearances" => {}
                "DR" => {
                    let (a, b) = (
                        o.get(b"DR").ok().and_then(|d| resolve(self.old, d)),
                        n.get(b"DR").ok().and_then(|d| resolve(self.new, d)),
                    );
                    match (a, b) {
                        (None, Some(_)) => {}
                        (Some(a), Some(b)) if extends(a, b) => {}
                        _ => {
                            return (
                                what,
                                Err("the form's default resources may only gain entries".into()),
                            )
                        }
                    }
                    if let Ok(v) = n.get(b"DR") {
                        self.vouched.push(v.clone());
                    }
                }
                "Fields" => {
                    let empty = Vec::new();
                    let a = o
                        .get(b"Fields")
                        .ok()
                        .and_then(|f| resolve(self.old, f))
                        .and_then(|f| f.as_array().ok())
                        .unwrap_or(&empty)
                        .clone();
                    let b = n
                        .get(b"Fields")
                        .ok()
                        .and_then(|f| resolve(self.new, f))
                        .and_then(|f| f.as_array().ok())
                        .unwrap_or(&empty)
                        .clone();
                    if let Ok(Object::Reference(r)) = n.get(b"Fields") {
                        self.vouched.push(Object::Reference(*r));
                    }
                    if let Err(e) = self.array_growth(&a, &b, false) {
                        return (what, Err(e));
                    }
                }
                other => {
                    return (
                        what,
                        Err(format!("/{other} of the form may not change after signing")),
                    )
                }
            }
        }
        (what, Ok("signature fields added".into()))
    }

    /// New objects: allowed when an allowed change refers to them, directly or not.
    fn judge_added(&mut self, added: &[ObjectId]) {
        let mut ok = HashSet::new();
        let vouched = std::mem::take(&mut self.vouched);
        let refs: Vec<&Object> = vouched.iter().collect();
        reachable(self.new, &refs, &[b"Parent", b"P"], &mut ok);
        // The trailer's /Info is metadata.
        if let Ok(info) = self.new.trailer.get(b"Info") {
            reachable(self.new, &[info], &[], &mut ok);
        }
        let mut notes: BTreeMap<&'static str, usize> = BTreeMap::new();
        for &id in added {
            let Ok(obj) = self.new.get_object(id) else {
                continue;
            };
            if is_xref_machinery(obj) {
                continue;
            }
            if ok.contains(&id) {
                let label = match self.new_roles.role(id) {
                    Role::SigDict => "signature dictionaries",
                    Role::Field { sig: true, .. } => "signature fields",
                    Role::Dss => "validation data (DSS) objects",
                    Role::Appearance { .. } => "appearance streams",
                    Role::Annotation(_) => "annotations",
                    Role::Info | Role::Metadata => "metadata objects",
                    _ => "supporting objects (fonts, resources, arrays)",
                };
                *notes.entry(label).or_default() += 1;
                continue;
            }
            let page = match self.new_roles.role(id) {
                Role::Page(p) | Role::Annotation(p) => Some(p),
                _ => None,
            };
            let what = format!("{} was added", describe(obj));
            let why = match self.new_roles.role(id) {
                Role::Content | Role::Page(_) | Role::PageTree => "new content that nothing allowed refers to (a page, its contents or its resources would use it)".to_owned(),
                _ => "no allowed change refers to it".to_owned(),
            };
            self.record(Some(id), page, what, Err(why));
        }
        for (label, n) in notes {
            self.record(
                None,
                None,
                format!("{n} new {label}"),
                Ok("part of an allowed change".into()),
            );
        }
        // A signature field added after signing must end up signed, or it could show anything.
        for &id in added {
            if let Role::Field {
                sig: true,
                name,
                page,
            } = self.new_roles.role(id)
            {
                let signed = self.last.get_dictionary(id).is_ok_and(|d| d.has(b"V"))
                    || self
                        .last
                        .get_dictionary(id)
                        .ok()
                        .and_then(|d| d.get(b"Parent").ok())
                        .and_then(|p| dict_of(self.last, p))
                        .is_some_and(|p| p.has(b"V"));
                let visible = self.new.get_dictionary(id).is_ok_and(|d| {
                    crate::pdf::query::rect(self.new, d.get(b"Rect").unwrap_or(&Object::Null))
                        .is_some_and(|r| r[2] - r[0] > 0.0 && r[3] - r[1] > 0.0)
                });
                let shows = visible && self.new.get_dictionary(id).is_ok_and(|d| d.has(b"AP"));
                let value = |d: &Dictionary| {
                    d.get(b"V")
                        .ok()
                        .and_then(|v| dict_of(self.last, v))
                        .is_some_and(|v| v.has_type(b"DocTimeStamp"))
                };
                let time_stamp = self.last.get_dictionary(id).is_ok_and(|d| {
                    value(d)
                        || d.get(b"Parent")
                            .ok()
                            .and_then(|p| dict_of(self.last, p))
                            .is_some_and(value)
                });
                if visible && time_stamp {
                    // Nobody vouches for a time-stamp's appearance: anyone can get a
                    // time-stamp, so a visible one could paint anything over the document.
                    self.record(
                        Some(id),
                        page,
                        format!("a visible document time-stamp field \u{201c}{name}\u{201d} was added"),
                        Err("a document time-stamp's field must be invisible: a time-stamp vouches for no appearance".into()),
                    );
                }
                if visible && self.mdp != DocMdp::None {
                    // As pyHanko judges it (stricter than Acrobat): a new visible field could
                    // cover certified content (the sneaky signature attack).
                    self.record(
                        Some(id),
                        page,
                        format!("a visible signature field \u{201c}{name}\u{201d} was added after the certification"),
                        Err("after a certification signature only invisible signature fields may be added: a visible one could cover the certified content".into()),
                    );
                } else if visible && self.roles.locked.iter().any(Option::is_none) {
                    self.record(
                        Some(id),
                        page,
                        format!("a visible signature field \u{201c}{name}\u{201d} was added"),
                        Err("a signature locked every field (FieldMDP /All): only invisible signature fields may be added".into()),
                    );
                }
                if !signed && shows {
                    self.record(Some(id), page, format!("an unsigned signature field \u{201c}{name}\u{201d} with an appearance was added"), Err("a signature field added after signing must be signed, or its appearance could show anything".into()));
                }
                if self.mdp == DocMdp::P1 {
                    let is_ts = self
                        .last
                        .get_dictionary(id)
                        .ok()
                        .and_then(|d| d.get(b"V").ok())
                        .and_then(|v| dict_of(self.last, v))
                        .is_some_and(|v| v.has_type(b"DocTimeStamp"));
                    if !is_ts {
                        self.record(Some(id), page, format!("signature field \u{201c}{name}\u{201d} was added"), Err("the certification signature allows no changes (DocMDP P=1): only document time-stamps and validation data may be added".into()));
                    }
                }
            }
        }
    }
}

fn describe(o: &Object) -> String {
    let (kind, ty, sub, _) = kind_of(o);
    let name = |n: Option<Vec<u8>>| n.map(|n| String::from_utf8_lossy(&n).into_owned());
    match (name(ty), name(sub)) {
        (Some(t), Some(s)) => format!("a {kind} of type {t}/{s}"),
        (Some(t), None) => format!("a {kind} of type {t}"),
        (None, Some(s)) => format!("a {kind} of subtype {s}"),
        _ => format!("a {kind}"),
    }
}

/// A revision as the change analysis sees it: the document and its objects' roles.
pub struct Revision<'a> {
    pub doc: &'a Document,
    pub roles: &'a Roles,
}

/// Judges the step from revision `revision - 1` (`old`) to `revision` (`new`); `last` is the
/// whole document, `mdp` the certification's permission.
pub fn step(
    old: Revision<'_>,
    new: Revision<'_>,
    last: &Document,
    revision: usize,
    mdp: DocMdp,
) -> Vec<Change> {
    let (old_roles, new_roles) = (old.roles, new.roles);
    let (old, new) = (old.doc, new.doc);
    let mut s = Step {
        old,
        new,
        last,
        revision,
        mdp,
        roles: old_roles,
        new_roles,
        changes: Vec::new(),
        vouched: Vec::new(),
    };
    if old.trailer.get(b"Root").ok() != new.trailer.get(b"Root").ok() {
        s.record(
            None,
            None,
            "the trailer's /Root points at another catalog".into(),
            Err("a new catalog replaces the whole signed document".into()),
        );
    }
    if new.trailer.has(b"Encrypt") && !old.trailer.has(b"Encrypt") {
        s.record(
            None,
            None,
            "encryption was added".into(),
            Err("the signed document may not be encrypted afterwards".into()),
        );
    }
    let mut added = Vec::new();
    let mut ids: Vec<&ObjectId> = new.objects.keys().collect();
    ids.sort();
    for &id in ids {
        let Some(n) = new.objects.get(&id) else {
            continue;
        };
        match old.objects.get(&id) {
            None => added.push(id),
            Some(o) if same(o, n) => {}
            // Cross-reference and object streams are the file's machinery, unless the
            // document reaches one as content.
            Some(o)
                if is_xref_machinery(o)
                    && is_xref_machinery(n)
                    && !s.roles.content.contains(&id) => {}
            Some(o) => s.judge_changed(id, o, n),
        }
    }
    let mut removed: Vec<&ObjectId> = old
        .objects
        .keys()
        .filter(|id| !new.objects.contains_key(id))
        .collect();
    removed.sort();
    for &id in removed {
        if old.objects.get(&id).is_some_and(is_xref_machinery) && !s.roles.content.contains(&id) {
            continue;
        }
        s.record(
            Some(id),
            None,
            "an object of the signed revision is gone: removed, or its cross-reference (xref) entry now points at something that is not it".into(),
            Err("objects of the signed revision may not be removed or repointed".into()),
        );
    }
    s.judge_added(&added);
    s.changes
}

/// The verdict over a list of changes.
pub fn verdict(changes: &[Change]) -> Modifications {
    if changes.is_empty() {
        Modifications::None
    } else if changes.iter().all(|c| c.allowed) {
        Modifications::Allowed
    } else {
        Modifications::Disallowed
    }
}
