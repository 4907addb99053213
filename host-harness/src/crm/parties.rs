//! Party lookup: the salesperson and contacts behind an address, and the
//! address fields validation checks.

use crate::store::{self, CompanyId, Store};

pub use crate::store::records::{
    AddressFieldRow, ContactMatch, SalespersonMatch, address_fields, email_template,
};

/// The normalised form the component uses for addresses.
pub fn normalise(address: &str) -> String {
    address.trim().to_lowercase()
}

/// The salesperson and contacts behind one address (any case or spacing).
pub fn lookup(
    db: &Store,
    company: CompanyId,
    address: &str,
) -> anyhow::Result<(Option<SalespersonMatch>, Vec<ContactMatch>)> {
    Ok(store::records::lookup(db, company, &normalise(address))?)
}

/// The salesperson and contacts behind each address (any case or
/// spacing), in order, in one pass over the database.
pub fn lookup_many(
    db: &Store,
    company: CompanyId,
    addresses: &[String],
) -> anyhow::Result<Vec<(Option<SalespersonMatch>, Vec<ContactMatch>)>> {
    let normalised: Vec<String> = addresses.iter().map(|a| normalise(a)).collect();
    Ok(store::records::lookup_many(db, company, &normalised)?)
}
