//! Outlook on the web links: what an entry keeps so a salesperson can open
//! the logged message.
//!
//! A link from Graph is data like any other: it ends up as an `href` in the
//! ERP and in front of a person's browser, so only `https` links to Outlook
//! on the web are kept. Anything else (`javascript:`, another host) is
//! replaced by the link Graph documents for an item id, which opens the same
//! message.

/// The hosts of Outlook on the web for the Microsoft Graph this component
/// uses (the worldwide cloud at `graph.microsoft.com`).
pub const OUTLOOK_HOSTS: &[&str] = &["outlook.office365.com", "outlook.office.com"];

/// Whether `link` is an `https` link to Outlook on the web.
pub fn is_outlook_link(link: &str) -> bool {
    url::Url::parse(link).is_ok_and(|u| {
        u.scheme() == "https"
            && u.username().is_empty()
            && u.password().is_none()
            && u.port().is_none()
            && u.host_str()
                .is_some_and(|h| OUTLOOK_HOSTS.contains(&h.to_ascii_lowercase().as_str()))
    })
}

/// The link to keep for the message `message_id`: Graph's `webLink` when it
/// is an Outlook on the web link, else the one Outlook opens for the id.
pub fn outlook_link(web_link: Option<&str>, message_id: &str) -> String {
    match web_link.map(str::trim) {
        Some(link) if is_outlook_link(link) => link.to_string(),
        _ => format!(
            "https://{}/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem",
            OUTLOOK_HOSTS[0],
            crate::graph::enc(message_id)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_outlook_links_are_kept() {
        let good =
            "https://outlook.office365.com/owa/?ItemID=AAk%3D&exvsurl=1&viewmodel=ReadMessageItem";
        assert_eq!(outlook_link(Some(good), "AAk="), good);
        for bad in [
            "javascript:alert(document.cookie)",
            "JavaScript:alert(1)//https://outlook.office365.com/owa/",
            "http://outlook.office365.com/owa/?ItemID=x",
            "https://outlook.office365.com.evil.example/owa/?ItemID=x",
            "https://user@outlook.office365.com/owa/?ItemID=x",
            "https://outlook.office365.com:8443/owa/?ItemID=x",
            "data:text/html,<script>alert(1)</script>",
            "//evil.example/owa",
            "",
        ] {
            let kept = outlook_link(Some(bad), "AAk/1+=");
            assert_eq!(
                kept,
                "https://outlook.office365.com/owa/?ItemID=AAk%2F1%2B%3D&exvsurl=1&viewmodel=ReadMessageItem",
                "{bad}"
            );
            assert!(is_outlook_link(&kept));
        }
        assert!(outlook_link(None, "x").starts_with("https://outlook.office365.com/owa/"));
    }
}
