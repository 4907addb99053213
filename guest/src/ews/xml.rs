//! A small element tree over quick-xml's namespace-aware reader, for EWS
//! answers, and the writer helpers requests are built with.
//!
//! Answers are untrusted: a tree is built within a budget of elements, so a
//! hostile or huge answer fails as [`XmlError::TooLarge`] instead of taking
//! the component's memory. Names are matched by namespace and local name,
//! never by prefix, since servers choose their own prefixes.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::writer::Writer;

/// The SOAP 1.1 envelope namespace.
pub const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// EWS messages (`m:`): operations and their responses.
pub const MESSAGES: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// EWS types (`t:`): items, folders, ids.
pub const TYPES: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
/// EWS errors (`e:`), in SOAP fault details.
pub const ERRORS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";

/// The namespace of an element, as far as EWS needs to tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    /// SOAP envelope.
    Soap,
    /// EWS messages.
    Messages,
    /// EWS types.
    Types,
    /// EWS errors.
    Errors,
    /// No namespace (SOAP 1.1 fault children are unqualified).
    None,
    /// Any other.
    Other,
}

/// Why an answer could not be read as XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML (or not UTF-8).
    #[error("the answer is not well-formed XML: {0}")]
    Malformed(String),
    /// More elements than the budget allows.
    #[error("the answer has more than {0} XML elements")]
    TooLarge(usize),
    /// No root element at all.
    #[error("the answer holds no XML element")]
    Empty,
}

/// One element: its name, attributes (by local name), text and children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Its namespace.
    pub ns: Ns,
    /// Its local name.
    pub name: String,
    /// Attributes by local name, in document order.
    pub attrs: Vec<(String, String)>,
    /// Its text content (the text directly inside it, entities resolved).
    pub text: String,
    /// Its child elements.
    pub children: Vec<Element>,
}

impl Element {
    /// An attribute's value by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child with this namespace and local name.
    pub fn child(&self, ns: Ns, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.ns == ns && c.name == name)
    }

    /// Every child with this namespace and local name.
    pub fn children<'a>(&'a self, ns: Ns, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children
            .iter()
            .filter(move |c| c.ns == ns && c.name == name)
    }

    /// The element at the end of a path of children.
    pub fn path(&self, steps: &[(Ns, &str)]) -> Option<&Element> {
        steps
            .iter()
            .try_fold(self, |at, (ns, name)| at.child(*ns, name))
    }

    /// A child's trimmed text, when it has any.
    pub fn text_of(&self, ns: Ns, name: &str) -> Option<&str> {
        self.child(ns, name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

fn ns_of(r: &ResolveResult<'_>) -> Ns {
    match r {
        ResolveResult::Bound(Namespace(uri)) => match *uri {
            u if u == SOAP.as_bytes() => Ns::Soap,
            u if u == MESSAGES.as_bytes() => Ns::Messages,
            u if u == TYPES.as_bytes() => Ns::Types,
            u if u == ERRORS.as_bytes() => Ns::Errors,
            _ => Ns::Other,
        },
        ResolveResult::Unbound => Ns::None,
        ResolveResult::Unknown(_) => Ns::Other,
    }
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

fn start(reader: &NsReader<&[u8]>, ns: Ns, e: &BytesStart<'_>) -> Result<Element, XmlError> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(malformed)?;
        // Namespace declarations are the reader's business, not the data's.
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = a
            .decode_and_unescape_value(reader.decoder())
            .map_err(malformed)?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        ns,
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        attrs,
        text: String::new(),
        children: Vec::new(),
    })
}

/// Parses a whole answer into its root element, with at most `budget` elements.
pub fn parse(bytes: &[u8], budget: usize) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_reader(bytes);
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(malformed)?;
        let ns = ns_of(&resolved);
        if matches!(event, Event::Start(_) | Event::Empty(_)) {
            count += 1;
            if count > budget {
                return Err(XmlError::TooLarge(budget));
            }
        }
        match event {
            Event::Start(e) => {
                let el = start(&reader, ns, &e)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = start(&reader, ns, &e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| malformed("an end tag without a start"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Text(t) => {
                if let Some(at) = stack.last_mut() {
                    at.text.push_str(&t.xml10_content().map_err(malformed)?);
                }
            }
            Event::CData(t) => {
                if let Some(at) = stack.last_mut() {
                    at.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(at) = stack.last_mut() {
                    if let Some(c) = r.resolve_char_ref().map_err(malformed)? {
                        at.text.push(c);
                    } else {
                        let name = r.decode().map_err(malformed)?;
                        let value = quick_xml::escape::resolve_xml_entity(&name)
                            .ok_or_else(|| malformed(format!("unknown entity &{name};")))?;
                        at.text.push_str(value);
                    }
                }
            }
            Event::Eof => {
                return Err(if stack.is_empty() {
                    XmlError::Empty
                } else {
                    malformed("the answer ends inside an element")
                });
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

/// Where requests are written.
pub type Out = Writer<Vec<u8>>;

/// `<name>text</name>`, the text escaped.
pub fn text_element(w: &mut Out, name: &str, text: &str) -> std::io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_by_namespace_not_prefix() {
        let xml = format!(
            r#"<?xml version="1.0"?><env:Envelope xmlns:env="{SOAP}"><env:Body>
               <x:Thing xmlns:x="{MESSAGES}" Id="a&amp;b"><y:Name xmlns:y="{TYPES}">R&#233;sum&eacute;</y:Name></x:Thing>
               </env:Body></env:Envelope>"#
        );
        let err = parse(xml.as_bytes(), 100).unwrap_err();
        assert!(
            matches!(err, XmlError::Malformed(_)),
            "an unknown entity is refused: {err}"
        );
        let xml = xml.replace("&eacute;", "&lt;&gt;");
        let root = parse(xml.as_bytes(), 100).unwrap();
        assert_eq!((root.ns, root.name.as_str()), (Ns::Soap, "Envelope"));
        let thing = root
            .path(&[(Ns::Soap, "Body"), (Ns::Messages, "Thing")])
            .unwrap();
        assert_eq!(thing.attr("Id"), Some("a&b"));
        assert_eq!(thing.text_of(Ns::Types, "Name"), Some("R\u{e9}sum<>"));
        assert_eq!(thing.text_of(Ns::Messages, "Name"), None, "wrong namespace");
    }

    #[test]
    fn hostile_answers_fail_cleanly() {
        let many = format!("<a>{}</a>", "<b/>".repeat(50));
        assert_eq!(parse(many.as_bytes(), 10), Err(XmlError::TooLarge(10)));
        assert!(parse(many.as_bytes(), 51).is_ok());
        for bad in ["<a><b></a>", "<a>", "", "not xml", "<a x='1' x='2'/>"] {
            assert!(parse(bad.as_bytes(), 10).is_err(), "{bad:?}");
        }
        // Control characters as character references still parse: Exchange
        // passes what senders put in subjects.
        let root = parse(b"<a>x&#x1;y</a>", 10).unwrap();
        assert_eq!(root.text, "x\u{1}y");
    }

    #[test]
    fn written_text_is_escaped() {
        let mut w = Writer::new(Vec::new());
        text_element(&mut w, "t:Subject", "<b>&\"x\"</b>").unwrap();
        let out = String::from_utf8(w.into_inner()).unwrap();
        assert_eq!(
            out,
            "<t:Subject>&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;</t:Subject>"
        );
    }
}
