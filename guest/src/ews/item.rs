//! An EWS item as the job sees it: the same [`InboxMessage`] the Graph store
//! gives, read as defensively (every element may be missing or odd).

use super::soap::id_of;
use super::xml::{Element, Ns};
use crate::message::{
    InboxMessage, MessageError, NO_ADDRESS, Named, RawParty, Sensitivity, Unreadable, parse_date,
};
use sha2::{Digest as _, Sha256};

/// Reads one item of a `GetItem` answer (a `t:Message`, or any other item
/// kind a mail-enabled public folder holds, such as a `t:PostItem`).
pub fn message(el: &Element) -> Result<InboxMessage, Unreadable> {
    let text = |name: &str| el.text_of(Ns::Types, name).map(str::to_string);
    let id = id_of(el, "ItemId");
    let internet_message_id = text("InternetMessageId");
    let unreadable = |error: MessageError| Unreadable {
        fingerprint: fingerprint(el),
        id: id.clone(),
        internet_message_id: internet_message_id.clone(),
        error,
    };
    let Some(item_id) = id.clone() else {
        return Err(unreadable(MessageError::NoId));
    };
    let mut msg = InboxMessage {
        id: item_id,
        internet_message_id: internet_message_id.clone(),
        subject: text("Subject").unwrap_or_default(),
        sent: text("DateTimeSent").as_deref().and_then(parse_date),
        received: text("DateTimeReceived").as_deref().and_then(parse_date),
        is_draft: text("IsDraft").is_some_and(|d| d.eq_ignore_ascii_case("true")),
        web_link: text("WebClientReadFormQueryString"),
        sensitivity: match text("Sensitivity").as_deref() {
            Some("Personal") => Sensitivity::Personal,
            Some("Private") => Sensitivity::Private,
            Some("Confidential") => Sensitivity::Confidential,
            _ => Sensitivity::Normal,
        },
        ..Default::default()
    };
    let one = |name: &str| -> RawParty {
        let field = el.child(Ns::Types, name)?;
        Some(match field.child(Ns::Types, "Mailbox") {
            Some(m) => mailbox(m),
            None => Err(NO_ADDRESS.into()),
        })
    };
    let recipients = ["ToRecipients", "CcRecipients", "BccRecipients"]
        .into_iter()
        .filter_map(|name| el.child(Ns::Types, name))
        .flat_map(|list| list.children(Ns::Types, "Mailbox"))
        .map(mailbox);
    msg.set_parties(one("Sender"), one("From"), recipients.collect::<Vec<_>>());
    msg.check_recipients().map_err(unreadable)?;
    Ok(msg)
}

/// A `t:Mailbox`: its SMTP address. Exchange gives `EX` (legacy DN)
/// addresses for some internal senders; they are no e-mail addresses and
/// match nobody.
fn mailbox(m: &Element) -> Result<Named, String> {
    let address = m.text_of(Ns::Types, "EmailAddress").ok_or(NO_ADDRESS)?;
    match m.text_of(Ns::Types, "RoutingType") {
        Some(r) if !r.eq_ignore_ascii_case("SMTP") => {
            Err(format!("{address} (a {r} address, not SMTP)"))
        }
        _ => Named::parse(address, m.text_of(Ns::Types, "Name")),
    }
}

/// What tells one unreadable item from another when it has no id.
fn fingerprint(el: &Element) -> String {
    format!("{:x}", Sha256::digest(format!("{el:?}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;
    use crate::ews::soap;
    use crate::ews::xml::{MESSAGES, SOAP, TYPES};

    fn get_item_answer(items: &str) -> Vec<soap::Response> {
        let xml = format!(
            r#"<s:Envelope xmlns:s="{SOAP}"><s:Body><m:GetItemResponse xmlns:m="{MESSAGES}" xmlns:t="{TYPES}"><m:ResponseMessages>{items}</m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>"#
        );
        soap::read(xml.as_bytes()).unwrap()
    }

    fn ok(item: &str) -> String {
        format!(
            r#"<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items>{item}</m:Items></m:GetItemResponseMessage>"#
        )
    }

    fn mb(address: &str) -> String {
        format!(
            "<t:Mailbox><t:Name>X</t:Name><t:EmailAddress>{address}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox>"
        )
    }

    #[test]
    fn a_message_reads_like_the_graph_one() {
        let item = format!(
            r#"<t:Message><t:ItemId Id="AAMk1" ChangeKey="CQ"/><t:Subject>Offer &amp; terms</t:Subject>
            <t:Sensitivity>Private</t:Sensitivity><t:DateTimeSent>2026-11-02T09:00:00Z</t:DateTimeSent>
            <t:DateTimeReceived>2026-11-02T09:00:05Z</t:DateTimeReceived><t:IsDraft>false</t:IsDraft>
            <t:Sender>{}</t:Sender><t:From>{}</t:From>
            <t:ToRecipients>{}{}<t:Mailbox><t:Name>Legacy</t:Name><t:EmailAddress>/o=First/cn=x</t:EmailAddress><t:RoutingType>EX</t:RoutingType></t:Mailbox></t:ToRecipients>
            <t:CcRecipients>{}</t:CcRecipients><t:InternetMessageId>&lt;a@b&gt;</t:InternetMessageId></t:Message>"#,
            mb("Jo@Cronus.example"),
            mb("from@cronus.example"),
            mb("andy@adatum.example"),
            mb("ANDY@adatum.example"),
            mb("not an address"),
        );
        let r = get_item_answer(&ok(&item));
        let m = message(r[0].items().next().unwrap()).unwrap();
        assert_eq!(m.id, "AAMk1");
        assert_eq!(m.subject, "Offer & terms");
        assert_eq!(m.internet_message_id.as_deref(), Some("<a@b>"));
        assert_eq!(m.sender.unwrap().as_str(), "jo@cronus.example");
        let rcpts: Vec<&str> = m.recipients.iter().map(Address::as_str).collect();
        assert_eq!(rcpts, ["andy@adatum.example"]);
        assert_eq!(m.bad_addresses.len(), 2, "{:?}", m.bad_addresses);
        assert!(m.had_recipient_entries);
        assert_eq!(m.sensitivity, Sensitivity::Private);
        assert_eq!(m.sent.unwrap().to_rfc3339(), "2026-11-02T09:00:00+00:00");
        assert!(!m.is_draft);
    }

    #[test]
    fn odd_items_are_read_without_failing() {
        let r = get_item_answer(&ok(
            "<t:PostItem><t:ItemId Id=\"P1\"/><t:DateTimeSent>yesterday</t:DateTimeSent></t:PostItem>",
        ));
        let m = message(r[0].items().next().unwrap()).unwrap();
        assert!(m.sender.is_none() && m.recipients.is_empty() && m.sent.is_none());
        assert!(!m.had_recipient_entries);

        let r = get_item_answer(&ok("<t:Message><t:Subject>no id</t:Subject></t:Message>"));
        let u = message(r[0].items().next().unwrap()).unwrap_err();
        assert_eq!(u.error, MessageError::NoId);

        let many: String = (0..=crate::message::MAX_RECIPIENTS)
            .map(|i| mb(&format!("r{i}@b.example")))
            .collect();
        let item = format!(
            "<t:Message><t:ItemId Id=\"M\"/><t:InternetMessageId>&lt;big@x&gt;</t:InternetMessageId><t:BccRecipients>{many}</t:BccRecipients></t:Message>"
        );
        let r = get_item_answer(&ok(&item));
        let u = message(r[0].items().next().unwrap()).unwrap_err();
        assert!(u.error.is_permanent(), "{u:?}");
        assert_eq!(
            (u.id.as_deref(), u.internet_message_id.as_deref()),
            (Some("M"), Some("<big@x>"))
        );
    }
}
