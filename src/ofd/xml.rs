//! A small element tree over quick-xml for the OFD files trustd reads (OFD.xml, Document.xml,
//! Signatures.xml, Signature.xml): local names (the `ofd:` prefix dropped), attributes and
//! text. quick-xml is a pull parser; the tree is built here with bounds on depth and size, and
//! DTDs are not processed (no entity expansion).

use quick_xml::events::Event;

/// Deepest nesting and most elements accepted in one file.
const MAX_DEPTH: usize = 64;
const MAX_ELEMENTS: usize = 200_000;

/// One element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    /// The text directly inside the element, unescaped.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Every descendant (depth first) with this name.
    pub fn descendants<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.descendants(name, out);
        }
    }
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => name.into_owned(),
    }
}

fn element(start: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
    let mut out = Element {
        name: local(start.name().as_ref()),
        ..Default::default()
    };
    for attr in start.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        let value = attr.unescape_value().map_err(|e| e.to_string())?;
        out.attributes
            .push((local(attr.key.as_ref()), value.into_owned()));
    }
    Ok(out)
}

/// Parses a whole XML file into its root element.
pub fn parse(bytes: &[u8]) -> Result<Element, String> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::Start(start) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err("the XML is nested too deeply or too large".into());
                }
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err("the XML is too large".into());
                }
                let e = element(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => return Ok(e),
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("an end tag closes nothing")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let text = t.unescape().map_err(|e| e.to_string())?;
                    top.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::DocType(_) => return Err("DTDs are not accepted".into()),
            Event::Eof => return Err("the XML ends before its root element closes".into()),
            _ => {}
        }
        buf.clear();
    }
}

/// Text escaped for an XML attribute or element.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_prefix_and_text_is_unescaped() {
        let root = parse(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0"><ofd:DocBody>
<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot><ofd:Signatures>a&amp;b</ofd:Signatures>
</ofd:DocBody></ofd:OFD>"#,
        )
        .unwrap();
        assert_eq!(root.name, "OFD");
        let body = root.child("DocBody").unwrap();
        assert_eq!(body.child("DocRoot").unwrap().text, "Doc_0/Document.xml");
        assert_eq!(body.child("Signatures").unwrap().text, "a&b");
    }

    #[test]
    fn hostile_xml_is_refused() {
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<!DOCTYPE x [<!ENTITY e \"x\">]><a>&e;</a>").is_err());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
        assert!(parse(b"").is_err());
    }
}
