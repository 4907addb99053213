//! XML for EWS: requests read into a small element tree with quick-xml's namespace-aware
//! reader, answers written with its writer (which escapes every text and attribute value).

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, Writer};

pub(crate) const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub(crate) const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
pub(crate) const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
pub(crate) const ERRORS_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";

/// Deeper nesting than any EWS request needs is refused, so a hostile body cannot make the
/// tree (or later recursion over it) arbitrarily deep.
const MAX_DEPTH: usize = 64;
/// Likewise for the number of elements; GetItem with a few thousand ids stays far below it.
const MAX_ELEMENTS: usize = 200_000;

/// One element of a request: namespace URI (empty when none), local name, attributes by local
/// name, child elements and the text directly inside it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Element {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// The first child with this namespace and local name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// A descendant reached through children of these names (all in `ns`).
    pub fn path(&self, ns: &str, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(ns, n))
    }

    /// An attribute's value (attributes in EWS are unqualified).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The text content, without surrounding whitespace.
    pub fn text(&self) -> &str {
        self.text.trim()
    }
}

/// Why a request body is not usable XML, with where the reader stopped.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message} (byte {position})")]
pub(crate) struct XmlError {
    pub message: String,
    pub position: u64,
}

/// Parses a whole document into its root element.
pub(crate) fn parse(body: &[u8]) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_reader(body);
    let mut buf = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let fail = |reader: &NsReader<&[u8]>, message: String| XmlError {
        message,
        position: reader.buffer_position(),
    };
    loop {
        let event = match reader.read_event_into(&mut buf) {
            Ok(e) => e,
            Err(e) => return Err(fail(&reader, e.to_string())),
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(fail(
                        &reader,
                        "the document is nested too deeply or too large".into(),
                    ));
                }
                if root.is_some() {
                    return Err(fail(&reader, "content after the root element".into()));
                }
                let element = element_of(&reader, start).map_err(|m| fail(&reader, m))?;
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, &mut root, element);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => match stack.pop() {
                Some(element) => close(&mut stack, &mut root, element),
                None => return Err(fail(&reader, "an end tag without a start tag".into())),
            },
            Event::Text(t) => {
                let text = t.xml_content().map_err(|e| fail(&reader, e.to_string()))?;
                push_text(&mut stack, &text, &reader)?;
            }
            Event::CData(t) => {
                let text = t.decode().map_err(|e| fail(&reader, e.to_string()))?;
                push_text(&mut stack, &text, &reader)?;
            }
            Event::GeneralRef(r) => {
                let c = match r
                    .resolve_char_ref()
                    .map_err(|e| fail(&reader, e.to_string()))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| fail(&reader, e.to_string()))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| {
                                fail(&reader, format!("reference to undeclared entity '{name}'"))
                            })?
                            .to_string()
                    }
                };
                push_text(&mut stack, &c, &reader)?;
            }
            // A DTD could declare entities; EWS requests never have one.
            Event::DocType(_) => return Err(fail(&reader, "DTDs are not allowed".into())),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(fail(&reader, "unexpected end of the document".into()));
    }
    root.ok_or_else(|| fail(&reader, "the document has no root element".into()))
}

fn push_text(stack: &mut [Element], text: &str, reader: &NsReader<&[u8]>) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(e) => e.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => {
            return Err(XmlError {
                message: "text outside the root element".into(),
                position: reader.buffer_position(),
            });
        }
    }
    Ok(())
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn element_of(reader: &NsReader<&[u8]>, start: &BytesStart<'_>) -> Result<Element, String> {
    let (ns, _) = reader.resolve_element(start.name());
    let ns = match ns {
        ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(p) => {
            return Err(format!(
                "'{}' is an undeclared prefix",
                String::from_utf8_lossy(&p)
            ));
        }
    };
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        // Namespace declarations are not attributes of the element.
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        let (_, local) = reader.resolve_attribute(a.key);
        let value = a
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| e.to_string())?;
        attrs.push((
            String::from_utf8_lossy(local.as_ref()).into_owned(),
            value.into_owned(),
        ));
    }
    Ok(Element {
        ns,
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// An answer being written. Writing into a `Vec` cannot fail, so the writer's I/O results are
/// dropped in one place, here.
pub(crate) struct Out {
    w: Writer<Vec<u8>>,
}

impl Out {
    pub fn new() -> Out {
        let mut w = Writer::new(Vec::new());
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
        Out { w }
    }

    pub fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        let mut e = BytesStart::new(name);
        e.extend_attributes(attrs.iter().copied());
        let _ = self.w.write_event(Event::Start(e));
        self
    }

    pub fn end(&mut self, name: &str) -> &mut Self {
        let _ = self.w.write_event(Event::End(BytesEnd::new(name)));
        self
    }

    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        let mut e = BytesStart::new(name);
        e.extend_attributes(attrs.iter().copied());
        let _ = self.w.write_event(Event::Empty(e));
        self
    }

    /// `<name>text</name>`, the text escaped.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.leaf_with(name, &[], text)
    }

    /// `<name attrs>text</name>`.
    pub fn leaf_with(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.start(name, attrs);
        self.text(text);
        self.end(name)
    }

    /// Escaped text. Characters XML 1.0 does not allow (control characters,
    /// U+FFFE, U+FFFF) are written as character references, as Exchange's
    /// writer does: such answers are not well-formed, and clients must cope.
    fn text(&mut self, text: &str) {
        let mut rest = text;
        while let Some(at) = rest.find(not_xml_char) {
            let c = rest[at..].chars().next().unwrap_or_default();
            let _ = self.w.write_event(Event::Text(BytesText::new(&rest[..at])));
            let reference = format!("&#x{:X};", u32::from(c));
            let _ = self
                .w
                .write_event(Event::Text(BytesText::from_escaped(reference)));
            rest = &rest[at + c.len_utf8()..];
        }
        let _ = self.w.write_event(Event::Text(BytesText::new(rest)));
    }

    pub fn finish(self) -> Vec<u8> {
        self.w.into_inner()
    }
}

/// Whether XML 1.0 forbids `c` in a document (even as a character reference).
fn not_xml_char(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_resolved_and_text_unescaped() {
        let doc = br#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body><x xmlns="http://schemas.microsoft.com/exchange/services/2006/messages" A="1 &amp; 2"><t:V>a &lt; b &#65;</t:V></x></s:Body></s:Envelope>"#;
        let root = parse(doc).unwrap();
        assert!(root.is(SOAP_NS, "Envelope"));
        let x = root
            .path(SOAP_NS, &["Body"])
            .unwrap()
            .child(MESSAGES_NS, "x")
            .unwrap();
        assert_eq!(x.attr("A"), Some("1 & 2"));
        assert_eq!(x.child(TYPES_NS, "V").unwrap().text(), "a < b A");
    }

    #[test]
    fn broken_documents_are_errors() {
        for doc in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"not xml",
            b"<p:a/>",
            b"<a>&custom;</a>",
            b"<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
            b"<a/><b/>",
        ] {
            assert!(parse(doc).is_err(), "{}", String::from_utf8_lossy(doc));
        }
    }

    #[test]
    fn written_values_are_escaped() {
        let mut out = Out::new();
        out.leaf_with("t:V", &[("Name", "a\"<b")], "x</t:V><evil/>");
        let text = String::from_utf8(out.finish()).unwrap();
        assert!(text.contains("&lt;/t:V&gt;&lt;evil/&gt;"), "{text}");
        assert!(text.contains("Name=\"a&quot;&lt;b\""), "{text}");
    }

    #[test]
    fn characters_xml_forbids_are_written_as_references() {
        let mut out = Out::new();
        out.leaf("t:Subject", "Bell\u{7} NUL\u{0} tab\t <ok> \u{ffff}");
        let text = String::from_utf8(out.finish()).unwrap();
        assert!(
            text.contains("<t:Subject>Bell&#x7; NUL&#x0; tab\t &lt;ok&gt; &#xFFFF;</t:Subject>"),
            "{text}"
        );
    }
}
