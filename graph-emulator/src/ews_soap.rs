//! The SOAP frame of every EWS answer: the envelope with `t:ServerVersionInfo` in its header,
//! and whole-request faults as Exchange sends them (HTTP 500, `s:Fault` with `detail`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ews_xml::{ERRORS_NS, MESSAGES_NS, Out, SOAP_NS, TYPES_NS};

/// What the emulator reports it is: Exchange Server 2016 CU23 (15.1.2507.6).
const SERVER_VERSION: [(&str, &str); 5] = [
    ("MajorVersion", "15"),
    ("MinorVersion", "1"),
    ("MajorBuildNumber", "2507"),
    ("MinorBuildNumber", "6"),
    ("Version", "Exchange2016"),
];

const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";

/// The `MessageXml` of a fault's detail.
#[derive(Debug, Clone)]
pub(crate) enum MessageXml {
    None,
    /// `ErrorServerBusy`: how long the client must wait.
    BackOff(u64),
    /// `ErrorSchemaValidation`: where the request broke the schema, and how.
    Schema {
        line: u64,
        position: u64,
        violation: String,
    },
}

/// A whole-request failure.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub status: StatusCode,
    pub code: &'static str,
    pub text: String,
    pub xml: MessageXml,
}

impl Fault {
    pub fn new(code: &'static str, text: impl Into<String>) -> Fault {
        Fault {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code,
            text: text.into(),
            xml: MessageXml::None,
        }
    }

    /// The request is well-formed XML but not what the schema allows.
    pub fn schema(violation: impl Into<String>) -> Fault {
        Fault::schema_at(0, 0, violation)
    }

    pub fn schema_at(line: u64, position: u64, violation: impl Into<String>) -> Fault {
        let violation = violation.into();
        Fault {
            xml: MessageXml::Schema {
                line,
                position,
                violation: violation.clone(),
            },
            ..Fault::new(
                "ErrorSchemaValidation",
                format!("The request failed schema validation: {violation}"),
            )
        }
    }

    pub fn invalid_request() -> Fault {
        Fault::new("ErrorInvalidRequest", "The request is invalid.")
    }

    pub fn server_busy(back_off_ms: u64) -> Fault {
        Fault {
            xml: MessageXml::BackOff(back_off_ms),
            ..Fault::new(
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.",
            )
        }
    }

    pub fn internal() -> Fault {
        Fault::new(
            "ErrorInternalServerError",
            "An internal server error occurred. The operation failed.",
        )
    }
}

/// Starts an answer: declaration, envelope and the header with the server version.
pub(crate) fn begin() -> Out {
    let mut out = Out::new();
    out.start("s:Envelope", &[("xmlns:s", SOAP_NS)]);
    out.start("s:Header", &[]);
    let mut attrs: Vec<(&str, &str)> = SERVER_VERSION.to_vec();
    attrs.extend([
        ("xmlns:h", TYPES_NS),
        ("xmlns", TYPES_NS),
        ("xmlns:xsd", XSD_NS),
        ("xmlns:xsi", XSI_NS),
    ]);
    out.empty("h:ServerVersionInfo", &attrs);
    out.end("s:Header");
    out.start("s:Body", &[("xmlns:xsi", XSI_NS), ("xmlns:xsd", XSD_NS)]);
    out
}

/// Opens `m:{op}Response` and its `m:ResponseMessages`.
pub(crate) fn open_response(out: &mut Out, op: &str) {
    out.start(
        &format!("m:{op}Response"),
        &[("xmlns:m", MESSAGES_NS), ("xmlns:t", TYPES_NS)],
    );
    out.start("m:ResponseMessages", &[]);
}

pub(crate) fn close_response(out: &mut Out, op: &str) {
    out.end("m:ResponseMessages");
    out.end(&format!("m:{op}Response"));
    out.end("s:Body");
    out.end("s:Envelope");
}

/// The whole fault document.
pub(crate) fn fault_document(f: &Fault) -> Vec<u8> {
    let mut out = begin();
    out.start("s:Fault", &[]);
    out.leaf_with(
        "faultcode",
        &[("xmlns:a", TYPES_NS)],
        &format!("a:{}", f.code),
    );
    out.leaf_with("faultstring", &[("xml:lang", "en-US")], &f.text);
    out.start("detail", &[]);
    out.leaf_with("e:ResponseCode", &[("xmlns:e", ERRORS_NS)], f.code);
    out.leaf_with("e:Message", &[("xmlns:e", ERRORS_NS)], &f.text);
    match &f.xml {
        MessageXml::None => {}
        MessageXml::BackOff(ms) => {
            out.start("t:MessageXml", &[("xmlns:t", TYPES_NS)]);
            out.leaf_with(
                "t:Value",
                &[("Name", "BackOffMilliseconds")],
                &ms.to_string(),
            );
            out.end("t:MessageXml");
        }
        MessageXml::Schema {
            line,
            position,
            violation,
        } => {
            out.start("t:MessageXml", &[("xmlns:t", TYPES_NS)]);
            out.leaf("t:LineNumber", &line.to_string());
            out.leaf("t:LinePosition", &position.to_string());
            out.leaf("t:Violation", violation);
            out.end("t:MessageXml");
        }
    }
    out.end("detail");
    out.end("s:Fault");
    out.end("s:Body");
    out.end("s:Envelope");
    out.finish()
}

/// An XML answer as IIS sends EWS's.
pub(crate) fn xml_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    r.headers_mut()
        .insert("x-aspnet-version", HeaderValue::from_static("4.0.30319"));
    r
}

pub(crate) fn fault_response(f: &Fault) -> Response {
    xml_response(f.status, fault_document(f))
}
