//! The current experience: public folders (or a mailbox) read over Exchange
//! Web Services, for Exchange on-premises and Exchange Online alike.
//!
//! Only the wire lives here: the SOAP requests and answers (`soap`, over
//! the small XML tree of `xml`). The processing is the pipeline's, the same
//! for both experiences; this module only turns EWS into a mail store.

pub mod client;
pub mod folders;
pub mod item;
pub mod soap;
pub mod store;
pub mod xml;
