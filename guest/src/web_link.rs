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
    is_link_to(link, OUTLOOK_HOSTS)
}

/// Whether `link` is a plain `https` link (no user, no port) to one of `hosts`.
fn is_link_to(link: &str, hosts: &[&str]) -> bool {
    url::Url::parse(link).is_ok_and(|u| {
        u.scheme() == "https"
            && u.username().is_empty()
            && u.password().is_none()
            && u.port().is_none()
            && u.host_str().is_some_and(|h| {
                let h = h.to_ascii_lowercase();
                hosts.iter().any(|k| k.eq_ignore_ascii_case(&h))
            })
    })
}

/// The link to keep for the message `message_id`: Graph's `webLink` when it
/// is an Outlook on the web link, else the one Outlook opens for the id.
pub fn outlook_link(web_link: Option<&str>, message_id: &str) -> String {
    owa_link_on(OUTLOOK_HOSTS[0], OUTLOOK_HOSTS, web_link, message_id)
}

/// The same for Outlook on the web at `host` (an Exchange server's own, for
/// the current experience): the server's link when it is one to `host`.
pub fn owa_link(host: &str, web_link: Option<&str>, message_id: &str) -> String {
    owa_link_on(host, &[host], web_link, message_id)
}

fn owa_link_on(host: &str, hosts: &[&str], web_link: Option<&str>, message_id: &str) -> String {
    match web_link.map(str::trim) {
        Some(link) if is_link_to(link, hosts) => link.to_string(),
        _ => format!(
            "https://{host}/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem",
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

    #[test]
    fn an_exchange_servers_links_stay_on_that_server() {
        let own = "https://mail.contoso.com/owa/?ItemID=AAk%3D&exvsurl=1&viewmodel=ReadMessageItem";
        assert_eq!(owa_link("mail.contoso.com", Some(own), "AAk="), own);
        // Exchange 2010 gives a bare query string; another host is not kept.
        for other in [
            "?ae=Item&t=IPM.Note&id=RgAAAA",
            "https://outlook.office365.com/owa/?ItemID=x",
            "https://mail.contoso.com.evil.example/owa/",
        ] {
            assert_eq!(
                owa_link("mail.contoso.com", Some(other), "AAk="),
                "https://mail.contoso.com/owa/?ItemID=AAk%3D&exvsurl=1&viewmodel=ReadMessageItem",
                "{other}"
            );
        }
    }
}
