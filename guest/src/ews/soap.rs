//! EWS operations as SOAP 1.1: the requests the current experience sends and
//! how their answers read.
//!
//! Every value that comes from outside (ids, folder names, addresses) is
//! written through quick-xml, which escapes it; nothing is spliced into XML
//! text. Element order follows the EWS schema, which servers validate.

use super::xml::{self, Element, Ns, Out};
use quick_xml::events::{BytesDecl, Event};
use quick_xml::writer::Writer;
use std::io;

/// The schema version asked for: Exchange 2013 SP1 and later (on-premises
/// 2013, 2016, 2019 and Exchange Online) all answer it.
pub const SERVER_VERSION: &str = "Exchange2013_SP1";

/// Most elements an answer may have; a page of 50 messages with 5,000
/// recipients each stays well under it (three elements per recipient).
pub const ELEMENT_BUDGET: usize = 1_000_000;

/// Who the request acts as, beyond the signed-in account.
#[derive(Debug, Clone, Copy, Default)]
pub struct Header<'a> {
    /// `ExchangeImpersonation` of this account (app-only OAuth2).
    pub impersonate: Option<&'a str>,
}

/// A folder named in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderRef<'a> {
    /// A well-known folder (`publicfoldersroot`, `inbox`...), of a mailbox
    /// when given.
    Distinguished {
        /// Its well-known name.
        id: &'a str,
        /// The mailbox, for mailbox folders.
        mailbox: Option<&'a str>,
    },
    /// A folder by id.
    Id(&'a str),
}

/// How `DeleteItem` deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteType {
    /// For good.
    HardDelete,
    /// To Deleted Items, as a person would.
    MoveToDeletedItems,
}

/// The item fields the processing rules need (`GetItem`).
pub const ITEM_FIELDS: &[&str] = &[
    "item:Subject",
    "item:DateTimeReceived",
    "item:DateTimeSent",
    "item:Sensitivity",
    "item:IsDraft",
    "item:WebClientReadFormQueryString",
    "item:ParentFolderId",
    "message:InternetMessageId",
    "message:Sender",
    "message:From",
    "message:ToRecipients",
    "message:CcRecipients",
    "message:BccRecipients",
];

const FOLDER_FIELDS: &[&str] = &[
    "folder:DisplayName",
    "folder:TotalCount",
    "folder:ChildFolderCount",
];

/// One EWS operation ready to send: its name (for the `SOAPAction` header
/// every EWS client sends) and the SOAP envelope.
#[derive(Debug, Clone)]
pub struct Request {
    /// The operation (`FindItem`).
    pub operation: &'static str,
    /// The envelope.
    pub body: Vec<u8>,
}

impl Request {
    /// The `SOAPAction` header value, as the EWS Managed API sends it.
    pub fn soap_action(&self) -> String {
        format!("\"{}/{}\"", xml::MESSAGES, self.operation)
    }
}

fn envelope(
    h: Header<'_>,
    operation: &'static str,
    body: impl FnOnce(&mut Out) -> io::Result<()>,
) -> Request {
    let mut w = Writer::new(Vec::new());
    let written: io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
        w.create_element("s:Envelope")
            .with_attributes([
                ("xmlns:s", xml::SOAP),
                ("xmlns:m", xml::MESSAGES),
                ("xmlns:t", xml::TYPES),
            ])
            .write_inner_content(|w| {
                w.create_element("s:Header").write_inner_content(|w| {
                    w.create_element("t:RequestServerVersion")
                        .with_attribute(("Version", SERVER_VERSION))
                        .write_empty()?;
                    if let Some(account) = h.impersonate {
                        w.create_element("t:ExchangeImpersonation")
                            .write_inner_content(|w| {
                                w.create_element("t:ConnectingSID")
                                    .write_inner_content(|w| {
                                        xml::text_element(w, "t:PrimarySmtpAddress", account)
                                    })?;
                                Ok(())
                            })?;
                    }
                    Ok(())
                })?;
                w.create_element("s:Body").write_inner_content(body)?;
                Ok(())
            })?;
        Ok(())
    })();
    // Writing into a Vec cannot fail; a failure here is a bug, not input.
    written.expect("writing XML into memory");
    Request {
        operation,
        body: w.into_inner(),
    }
}

fn field_uris(w: &mut Out, fields: &[&str]) -> io::Result<()> {
    for f in fields {
        w.create_element("t:FieldURI")
            .with_attribute(("FieldURI", *f))
            .write_empty()?;
    }
    Ok(())
}

fn folder_ref(w: &mut Out, f: FolderRef<'_>) -> io::Result<()> {
    match f {
        FolderRef::Distinguished { id, mailbox } => {
            let el = w
                .create_element("t:DistinguishedFolderId")
                .with_attribute(("Id", id));
            match mailbox {
                Some(m) => {
                    el.write_inner_content(|w| {
                        w.create_element("t:Mailbox")
                            .write_inner_content(|w| xml::text_element(w, "t:EmailAddress", m))?;
                        Ok(())
                    })?;
                }
                None => {
                    el.write_empty()?;
                }
            }
        }
        FolderRef::Id(id) => {
            w.create_element("t:FolderId")
                .with_attribute(("Id", id))
                .write_empty()?;
        }
    }
    Ok(())
}

fn item_ids(w: &mut Out, ids: &[&str]) -> io::Result<()> {
    w.create_element("m:ItemIds").write_inner_content(|w| {
        for id in ids {
            w.create_element("t:ItemId")
                .with_attribute(("Id", *id))
                .write_empty()?;
        }
        Ok(())
    })?;
    Ok(())
}

/// `<m:FolderShape>` or `<m:ItemShape>`: ids only, plus these fields.
fn shape(w: &mut Out, element: &str, fields: &[&str]) -> io::Result<()> {
    w.create_element(element).write_inner_content(|w| {
        xml::text_element(w, "t:BaseShape", "IdOnly")?;
        // The schema wants at least one path when the element is there.
        if !fields.is_empty() {
            w.create_element("t:AdditionalProperties")
                .write_inner_content(|w| field_uris(w, fields))?;
        }
        Ok(())
    })?;
    Ok(())
}

fn folder_shape(w: &mut Out) -> io::Result<()> {
    shape(w, "m:FolderShape", FOLDER_FIELDS)
}

/// `GetFolder` with the display name and counts.
pub fn get_folder(h: Header<'_>, folder: FolderRef<'_>) -> Request {
    envelope(h, "GetFolder", |w| {
        w.create_element("m:GetFolder").write_inner_content(|w| {
            folder_shape(w)?;
            w.create_element("m:FolderIds")
                .write_inner_content(|w| folder_ref(w, folder))?;
            Ok(())
        })?;
        Ok(())
    })
}

/// `FindFolder`: one page of a folder's direct children.
pub fn find_folder(h: Header<'_>, parent: FolderRef<'_>, offset: u32) -> Request {
    envelope(h, "FindFolder", |w| {
        w.create_element("m:FindFolder")
            .with_attribute(("Traversal", "Shallow"))
            .write_inner_content(|w| {
                folder_shape(w)?;
                w.create_element("m:IndexedPageFolderView")
                    .with_attributes([
                        ("MaxEntriesReturned", "100"),
                        ("Offset", offset.to_string().as_str()),
                        ("BasePoint", "Beginning"),
                    ])
                    .write_empty()?;
                w.create_element("m:ParentFolderIds")
                    .write_inner_content(|w| folder_ref(w, parent))?;
                Ok(())
            })?;
        Ok(())
    })
}

/// `CreateFolder`: a mail folder `name` under `parent`.
pub fn create_folder(h: Header<'_>, parent: FolderRef<'_>, name: &str) -> Request {
    envelope(h, "CreateFolder", |w| {
        w.create_element("m:CreateFolder")
            .write_inner_content(|w| {
                w.create_element("m:ParentFolderId")
                    .write_inner_content(|w| folder_ref(w, parent))?;
                w.create_element("m:Folders").write_inner_content(|w| {
                    w.create_element("t:Folder").write_inner_content(|w| {
                        xml::text_element(w, "t:FolderClass", "IPF.Note")?;
                        xml::text_element(w, "t:DisplayName", name)
                    })?;
                    Ok(())
                })?;
                Ok(())
            })?;
        Ok(())
    })
}

/// `FindItem`: ids (and `InternetMessageId`s, unless `ids_only`) of a
/// folder's items, oldest first, `max` from `offset`; only those whose field
/// equals the value when `matching` is given
/// (`("message:InternetMessageId", "<a@b>")`).
pub fn find_item(
    h: Header<'_>,
    folder: FolderRef<'_>,
    offset: usize,
    max: u32,
    matching: Option<(&str, &str)>,
    ids_only: bool,
) -> Request {
    let fields: &[&str] = if ids_only {
        &[]
    } else {
        &["message:InternetMessageId"]
    };
    envelope(h, "FindItem", |w| {
        w.create_element("m:FindItem")
            .with_attribute(("Traversal", "Shallow"))
            .write_inner_content(|w| {
                shape(w, "m:ItemShape", fields)?;
                w.create_element("m:IndexedPageItemView")
                    .with_attributes([
                        ("MaxEntriesReturned", max.to_string().as_str()),
                        ("Offset", offset.to_string().as_str()),
                        ("BasePoint", "Beginning"),
                    ])
                    .write_empty()?;
                if let Some((field, value)) = matching {
                    w.create_element("m:Restriction").write_inner_content(|w| {
                        w.create_element("t:IsEqualTo").write_inner_content(|w| {
                            field_uris(w, &[field])?;
                            w.create_element("t:FieldURIOrConstant")
                                .write_inner_content(|w| {
                                    w.create_element("t:Constant")
                                        .with_attribute(("Value", value))
                                        .write_empty()?;
                                    Ok(())
                                })?;
                            Ok(())
                        })?;
                        Ok(())
                    })?;
                }
                w.create_element("m:SortOrder").write_inner_content(|w| {
                    w.create_element("t:FieldOrder")
                        .with_attribute(("Order", "Ascending"))
                        .write_inner_content(|w| field_uris(w, &["item:DateTimeReceived"]))?;
                    Ok(())
                })?;
                w.create_element("m:ParentFolderIds")
                    .write_inner_content(|w| folder_ref(w, folder))?;
                Ok(())
            })?;
        Ok(())
    })
}

/// `GetItem`: the fields of [`ITEM_FIELDS`] for these items.
pub fn get_item(h: Header<'_>, ids: &[&str]) -> Request {
    envelope(h, "GetItem", |w| {
        w.create_element("m:GetItem").write_inner_content(|w| {
            shape(w, "m:ItemShape", ITEM_FIELDS)?;
            item_ids(w, ids)
        })?;
        Ok(())
    })
}

/// `MoveItem` of many items to one folder, asking for their new ids.
pub fn move_item(h: Header<'_>, ids: &[&str], to: &str) -> Request {
    envelope(h, "MoveItem", |w| {
        w.create_element("m:MoveItem")
            .with_attribute(("ReturnNewItemIds", "true"))
            .write_inner_content(|w| {
                w.create_element("m:ToFolderId")
                    .write_inner_content(|w| folder_ref(w, FolderRef::Id(to)))?;
                item_ids(w, ids)
            })?;
        Ok(())
    })
}

/// `DeleteItem`.
pub fn delete_item(h: Header<'_>, ids: &[&str], how: DeleteType) -> Request {
    let how = match how {
        DeleteType::HardDelete => "HardDelete",
        DeleteType::MoveToDeletedItems => "MoveToDeletedItems",
    };
    envelope(h, "DeleteItem", |w| {
        w.create_element("m:DeleteItem")
            .with_attribute(("DeleteType", how))
            .write_inner_content(|w| item_ids(w, ids))?;
        Ok(())
    })
}

/// `CreateItem` of a message saved (not sent) in `folder`.
pub fn create_item(h: Header<'_>, folder: &str, subject: &str, body: &str) -> Request {
    envelope(h, "CreateItem", |w| {
        w.create_element("m:CreateItem")
            .with_attribute(("MessageDisposition", "SaveOnly"))
            .write_inner_content(|w| {
                w.create_element("m:SavedItemFolderId")
                    .write_inner_content(|w| folder_ref(w, FolderRef::Id(folder)))?;
                w.create_element("m:Items").write_inner_content(|w| {
                    w.create_element("t:Message").write_inner_content(|w| {
                        xml::text_element(w, "t:Subject", subject)?;
                        w.create_element("t:Body")
                            .with_attribute(("BodyType", "Text"))
                            .write_text_content(quick_xml::events::BytesText::new(body))?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
                Ok(())
            })?;
        Ok(())
    })
}

/// What a whole answer said when it was not a list of response messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// A SOAP fault (or a response message) with an EWS code.
    #[error("{code}: {text}")]
    Code {
        /// The EWS response code (`ErrorServerBusy`...).
        code: String,
        /// The server's words.
        text: String,
        /// `BackOffMilliseconds` from the fault's `MessageXml`, for throttling.
        back_off_ms: Option<u64>,
    },
    /// Not an EWS answer at all (an HTML page, a proxy's error, bad XML).
    #[error("the answer is not EWS: {0}")]
    NotEws(String),
    /// An EWS answer that is not well-formed XML: Exchange writes characters
    /// XML forbids (NUL) as character references, so one item's text can
    /// spoil the answer it is in.
    #[error("Exchange's answer is not well-formed XML: {0}")]
    Malformed(String),
}

/// How one response message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// It worked.
    Success,
    /// It worked, with a remark.
    Warning,
    /// It failed; the code says why.
    Error,
}

/// One response message of an answer (one per item or folder asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// How it ended.
    pub class: Class,
    /// Its response code (`NoError`, `ErrorItemNotFound`...).
    pub code: String,
    /// The server's words, on errors.
    pub text: String,
    /// `BackOffMilliseconds` of an `ErrorServerBusy`.
    pub back_off_ms: Option<u64>,
    /// The whole response message element, for its content.
    pub element: Element,
}

impl Response {
    /// The response as a [`Fault`], when it failed.
    pub fn fault(&self) -> Option<Fault> {
        (self.class == Class::Error).then(|| Fault::Code {
            code: self.code.clone(),
            text: self.text.clone(),
            back_off_ms: self.back_off_ms,
        })
    }

    /// The items it carries (`m:Items/*`, or `m:RootFolder/t:Items/*` of a `FindItem`).
    pub fn items(&self) -> impl Iterator<Item = &Element> {
        self.listed("Items")
    }

    /// The folders it carries (`m:Folders/*` or `m:RootFolder/t:Folders/*`).
    pub fn folders(&self) -> impl Iterator<Item = &Element> {
        self.listed("Folders")
    }

    /// The children of the list `name`: straight in the response message
    /// (`GetItem`, `MoveItem`...) or in the root folder of a `Find...`.
    fn listed<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        let direct = self.element.child(Ns::Messages, name);
        let found = self
            .element
            .path(&[(Ns::Messages, "RootFolder"), (Ns::Types, name)]);
        direct
            .into_iter()
            .chain(found)
            .flat_map(|list| list.children.iter())
    }

    /// `FindItem`/`FindFolder` paging: whether the last item is in this page.
    pub fn includes_last(&self) -> bool {
        self.element
            .child(Ns::Messages, "RootFolder")
            .and_then(|r| r.attr("IncludesLastItemInRange"))
            .is_none_or(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `FindItem`/`FindFolder` paging: the total of the view.
    pub fn total(&self) -> Option<u64> {
        self.element
            .child(Ns::Messages, "RootFolder")
            .and_then(|r| r.attr("TotalItemsInView"))
            .and_then(|v| v.trim().parse().ok())
    }
}

/// `BackOffMilliseconds` in a `MessageXml` element.
fn back_off(message_xml: Option<&Element>) -> Option<u64> {
    message_xml?
        .children(Ns::Types, "Value")
        .find(|v| v.attr("Name") == Some("BackOffMilliseconds"))
        .and_then(|v| v.text.trim().parse().ok())
}

/// Reads an answer into its response messages, or the fault that replaced them.
pub fn read(body: &[u8]) -> Result<Vec<Response>, Fault> {
    let root = xml::parse(body, ELEMENT_BUDGET).map_err(|e| {
        if body.windows(16).any(|w| w == b"ResponseMessages") {
            Fault::Malformed(e.to_string())
        } else {
            Fault::NotEws(e.to_string())
        }
    })?;
    if (root.ns, root.name.as_str()) != (Ns::Soap, "Envelope") {
        return Err(Fault::NotEws(format!("its root is <{}>", root.name)));
    }
    let body = root
        .child(Ns::Soap, "Body")
        .ok_or_else(|| Fault::NotEws("the envelope has no body".into()))?;
    if let Some(fault) = body.child(Ns::Soap, "Fault") {
        let detail = fault.child(Ns::None, "detail");
        let code = detail
            .and_then(|d| d.text_of(Ns::Errors, "ResponseCode"))
            .or_else(|| {
                // `a:ErrorSchemaValidation`: the code after the prefix.
                fault
                    .text_of(Ns::None, "faultcode")
                    .map(|c| c.rsplit(':').next().unwrap_or(c))
            })
            .unwrap_or("(no code)");
        let text = detail
            .and_then(|d| d.text_of(Ns::Errors, "Message"))
            .or_else(|| fault.text_of(Ns::None, "faultstring"))
            .unwrap_or_default();
        return Err(Fault::Code {
            code: code.to_string(),
            text: text.to_string(),
            back_off_ms: back_off(detail.and_then(|d| d.child(Ns::Types, "MessageXml"))),
        });
    }
    let operation = body
        .children
        .first()
        .ok_or_else(|| Fault::NotEws("the body is empty".into()))?;
    let messages = operation
        .child(Ns::Messages, "ResponseMessages")
        .ok_or_else(|| Fault::NotEws(format!("<{}> has no response messages", operation.name)))?;
    Ok(messages
        .children
        .iter()
        .map(|m| {
            let class = match m.attr("ResponseClass") {
                Some("Error") => Class::Error,
                Some("Warning") => Class::Warning,
                _ => Class::Success,
            };
            Response {
                class,
                code: m
                    .text_of(Ns::Messages, "ResponseCode")
                    .unwrap_or("NoError")
                    .to_string(),
                text: m
                    .text_of(Ns::Messages, "MessageText")
                    .unwrap_or_default()
                    .to_string(),
                back_off_ms: back_off(m.child(Ns::Messages, "MessageXml")),
                element: m.clone(),
            }
        })
        .collect())
}

/// An item's or folder's id (`t:ItemId`/`t:FolderId` `Id`).
pub fn id_of(el: &Element, id_element: &str) -> Option<String> {
    el.child(Ns::Types, id_element)
        .and_then(|i| i.attr("Id"))
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn requests_are_well_formed_and_escape_what_they_carry() {
        let hostile = "<x>&\"'</x>";
        let h = Header {
            impersonate: Some(hostile),
        };
        for req in [
            get_folder(
                h,
                FolderRef::Distinguished {
                    id: "publicfoldersroot",
                    mailbox: None,
                },
            ),
            get_folder(
                h,
                FolderRef::Distinguished {
                    id: "inbox",
                    mailbox: Some(hostile),
                },
            ),
            find_folder(h, FolderRef::Id(hostile), 100),
            create_folder(h, FolderRef::Id("p"), hostile),
            find_item(
                h,
                FolderRef::Id("q"),
                50,
                50,
                Some(("item:Subject", hostile)),
                false,
            ),
            get_item(h, &[hostile, "b"]),
            move_item(h, &[hostile], hostile),
            delete_item(h, &[hostile], DeleteType::HardDelete),
            create_item(h, "f", hostile, hostile),
        ] {
            let root = xml::parse(&req.body, 1000).expect("well-formed");
            assert_eq!(root.name, "Envelope");
            // The action names the operation the body holds.
            let op = root.path(&[(Ns::Soap, "Body")]).unwrap().children[0]
                .name
                .clone();
            assert_eq!(req.soap_action(), format!("\"{}/{op}\"", xml::MESSAGES));
            let s = text(req.body);
            assert!(!s.contains(hostile), "{s}");
            assert!(s.contains("Exchange2013_SP1"));
            let imp = root
                .path(&[
                    (Ns::Soap, "Header"),
                    (Ns::Types, "ExchangeImpersonation"),
                    (Ns::Types, "ConnectingSID"),
                ])
                .unwrap();
            assert_eq!(imp.text_of(Ns::Types, "PrimarySmtpAddress"), Some(hostile));
        }
    }

    #[test]
    fn find_item_follows_the_schema_order() {
        let s = text(
            find_item(
                Header::default(),
                FolderRef::Id("q"),
                100,
                25,
                Some(("message:InternetMessageId", "<a@b>")),
                false,
            )
            .body,
        );
        let at = |needle: &str| s.find(needle).unwrap_or_else(|| panic!("{needle} in {s}"));
        assert!(at("m:ItemShape") < at("m:IndexedPageItemView"));
        assert!(at("m:IndexedPageItemView") < at("m:Restriction"));
        assert!(at("m:Restriction") < at("m:SortOrder"));
        assert!(at("m:SortOrder") < at("m:ParentFolderIds"));
        assert!(s.contains(r#"MaxEntriesReturned="25" Offset="100" BasePoint="Beginning""#));
        assert!(s.contains(r#"<t:Constant Value="&lt;a@b&gt;"/>"#));
        assert!(!s.contains("ExchangeImpersonation"));
    }

    const SERVER_BUSY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Body>
    <s:Fault>
      <faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>
      <faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring>
      <detail>
        <e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode>
        <e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot service this request right now. Try again later.</e:Message>
        <t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
          <t:Value Name="BackOffMilliseconds">297749</t:Value>
        </t:MessageXml>
      </detail>
    </s:Fault>
  </s:Body>
</s:Envelope>"#;

    #[test]
    fn a_busy_server_says_how_long_to_back_off() {
        assert_eq!(
            read(SERVER_BUSY.as_bytes()),
            Err(Fault::Code {
                code: "ErrorServerBusy".into(),
                text: "The server cannot service this request right now. Try again later.".into(),
                back_off_ms: Some(297_749),
            })
        );
        let schema = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
            <faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorSchemaValidation</faultcode>
            <faultstring>The request failed schema validation.</faultstring></s:Fault></s:Body></s:Envelope>"#;
        assert!(
            matches!(read(schema.as_bytes()), Err(Fault::Code { code, .. }) if code == "ErrorSchemaValidation")
        );
        for not_ews in [
            "<html><body>Bad gateway</body></html>",
            "",
            "{\"error\": 1}",
        ] {
            assert!(
                matches!(read(not_ews.as_bytes()), Err(Fault::NotEws(_))),
                "{not_ews}"
            );
        }
    }

    #[test]
    fn response_messages_come_one_per_item_with_their_own_outcome() {
        let answer = format!(
            r#"<s:Envelope xmlns:s="{}"><s:Header><h:ServerVersionInfo xmlns:h="{t}" MajorVersion="15"/></s:Header><s:Body>
            <m:MoveItemResponse xmlns:m="{m}" xmlns:t="{t}"><m:ResponseMessages>
              <m:MoveItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
                <m:Items><t:Message><t:ItemId Id="new1" ChangeKey="ck"/></t:Message></m:Items></m:MoveItemResponseMessage>
              <m:MoveItemResponseMessage ResponseClass="Error"><m:MessageText>The specified object was not found in the store.</m:MessageText>
                <m:ResponseCode>ErrorItemNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:Items/></m:MoveItemResponseMessage>
              <m:MoveItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items/></m:MoveItemResponseMessage>
            </m:ResponseMessages></m:MoveItemResponse></s:Body></s:Envelope>"#,
            xml::SOAP,
            m = xml::MESSAGES,
            t = xml::TYPES
        );
        let r = read(answer.as_bytes()).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].class, Class::Success);
        assert_eq!(
            id_of(r[0].items().next().unwrap(), "ItemId").as_deref(),
            Some("new1")
        );
        assert_eq!(r[1].code, "ErrorItemNotFound");
        assert!(r[1].fault().is_some() && r[0].fault().is_none());
        assert_eq!(
            r[2].items().count(),
            0,
            "a move into a public folder may return no id"
        );
    }
}
