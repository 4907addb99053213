//! E-mail addresses as Graph hands them over: untrusted text.
//!
//! Exchange accepts more than RFC 5321 allows (X500 legacy DNs, display names
//! in the address field, stray spaces), so matching works on a normalised
//! form and anything that is not a plain `local@domain` is rejected here,
//! before it reaches the ERP lookup.

use std::fmt;

/// A trimmed, lower-cased `local@domain` address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(String);

/// Why a text is not a usable address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Nothing but white space.
    #[error("the address is empty")]
    Empty,
    /// Not of the form `local@domain` (for example an X500 address).
    #[error("'{0}' is not an e-mail address of the form name@domain")]
    Malformed(String),
}

/// Longest address SMTP allows (RFC 5321 §4.5.3.1.3 path limit less the brackets).
const MAX_LEN: usize = 254;

impl Address {
    /// Parses and normalises an address: trims it, lower-cases it and checks
    /// that it is a plain `local@domain` with a dotted domain.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(AddressError::Empty);
        }
        let shown = || AddressError::Malformed(shorten(trimmed));
        if trimmed.len() > MAX_LEN || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(shown());
        }
        let (local, domain) = trimmed.split_once('@').ok_or_else(shown)?;
        let domain_ok = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && !local.contains(['<', '>', '(', ')', '[', ']', ',', ';', ':', '\\', '"', '/']);
        if !domain_ok || !local_ok {
            return Err(shown());
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Keeps error messages readable when Graph sends something huge.
fn shorten(text: &str) -> String {
    const SHOWN: usize = 80;
    if text.chars().count() <= SHOWN {
        text.to_string()
    } else {
        let head: String = text.chars().take(SHOWN).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        let a = Address::parse("  Andy.Teal@CannonGroup.Example ").unwrap();
        assert_eq!(a.as_str(), "andy.teal@cannongroup.example");
    }

    #[test]
    fn rejects_x500_and_junk() {
        for bad in [
            "/o=ExchangeLabs/ou=Exchange Administrative Group/cn=Recipients/cn=abc",
            "no-at-sign",
            "two@@example.com",
            "@example.com",
            "user@",
            "user@localhost",
            "user@exa mple.com",
            "Andy <andy@example.com>",
            "user@.example.com",
            "user@example..com",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn empty_is_its_own_error() {
        assert_eq!(Address::parse("   "), Err(AddressError::Empty));
    }

    #[test]
    fn long_garbage_is_shortened_in_the_message() {
        let junk = "x".repeat(5000);
        let err = Address::parse(&junk).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn accepts_international_domain_letters() {
        assert!(Address::parse("info@bücher.example").is_ok());
    }
}
