//! A stateful emulator of Microsoft Graph mail (v1.0) and the Entra ID v2 token endpoint.
//!
//! It serves real HTTP (axum, loopback). A client can call it directly at
//! `http://127.0.0.1:PORT/v1.0/...`, or keep using the public URLs
//! (`https://graph.microsoft.com/v1.0/...`, `https://login.microsoftonline.com/{tenant}/...`)
//! behind a proxy that routes them to the emulator and keeps the `Host` header. Links to Graph
//! (`@odata.nextLink`, `@odata.context`, `@odata.deltaLink`) are built from the address the
//! request was sent to, as real services build them: `https://{host}` when `Host` is one of
//! Microsoft's public names, `http://{host}` otherwise, unless
//! [`EmulatorConfig::graph_public_base`] fixes a base. `webLink`s always use
//! [`EmulatorConfig::outlook_public_base`] (`https://outlook.office365.com/owa/...`).
//!
//! Routes:
//! - `/v1.0/users/{address}/...` and `/v1.0/me/...`: mail folders and messages (list with
//!   `$select`, `$top`, `$skip`, `$orderby`, `$filter`, `$count=true` for `@odata.count`,
//!   `$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x36')` for the seed's MAPI
//!   properties (absent from every answer that does not expand them, as in Graph);
//!   `messages/$count` as plain text, with or without `ConsistencyLevel: eventual`, which
//!   Graph only needs for directory objects; get, move, delete, `permanentDelete`, patch; create a draft with
//!   POST to `messages` or `mailFolders/{id}/messages`; folder list, get, create), behind
//!   bearer tokens issued by the emulator.
//! - `/v1.0/.../mailFolders/{id}/messages/delta`: Graph's delta query for a folder. The first
//!   round pages (`Prefer: odata.maxpagesize=N` or `$top`, default 10) through every message
//!   with `@odata.nextLink` (`$skiptoken`) and ends with `@odata.deltaLink` (`$deltatoken`);
//!   that link, called later, returns only the messages that arrived in the folder or changed
//!   (moved, patched) since, plus `{"id", "@removed": {"reason": "deleted"}}` for each that left
//!   it (moved out or deleted). `$select`, `$filter` and `changeType=created|updated|deleted`
//!   are kept in the tokens; an unknown token is 410 `syncStateNotFound`.
//! - `/{tenant}/oauth2/v2.0/token` and `/authorize` (the `nonce` of an authorize request is
//!   echoed in the id_token; a failed redemption burns the code), `/{tenant}/v2.0/adminconsent`.
//! - OpenID Connect as Entra serves it: `/{tenant}/v2.0/.well-known/openid-configuration`
//!   (endpoints on the address the request was sent to, issuer
//!   `https://login.microsoftonline.com/{tenant id}/v2.0`), its JWKS at
//!   `/{tenant}/discovery/v2.0/keys`, and MSAL's instance discovery at
//!   `/common/discovery/instance`. id_tokens are RS256-signed with a key made per process,
//!   which the JWKS publishes.
//! - `/owa/?ItemID=...`: what a `webLink` (or EWS's `WebClientReadFormQueryString`) opens.
//! - `POST /EWS/Exchange.asmx` (path case-insensitive): Exchange Web Services, SOAP 1.1, as
//!   Exchange Server 2016 answers it (`t:ServerVersionInfo` 15.1.2507.6 `Exchange2016` in every
//!   answer's header; `RequestServerVersion` Exchange2010 to Exchange2016 accepted, others get
//!   `ErrorInvalidServerVersion`). Sign-in is HTTP Basic against the seed's `accounts`, or a
//!   Bearer token from the token endpoint for `https://outlook.office365.com/.default` (Graph
//!   tokens are refused, and Outlook tokens on Graph); anything else is 401 with
//!   `WWW-Authenticate: Basic realm=...`. App-only tokens must name the mailbox in
//!   `t:ExchangeImpersonation/t:ConnectingSID/t:PrimarySmtpAddress`; `X-AnchorMailbox` is
//!   accepted and ignored. Operations: GetFolder (`DistinguishedFolderId` `publicfoldersroot`,
//!   `root`, `msgfolderroot`, `inbox` and the other well-known folders, with an optional
//!   `t:Mailbox`, or `FolderId`), FindFolder (Shallow, or Deep in mailboxes; restrictions are
//!   answered `ErrorUnsupportedQueryFilter`), CreateFolder,
//!   FindItem (Shallow, `IndexedPageItemView`, `SortOrder` on `item:DateTimeReceived`,
//!   `item:DateTimeSent` or `item:Subject`; newest received first without one; of
//!   restrictions only `IsEqualTo` on `message:InternetMessageId` or `item:Subject` is
//!   evaluated, any other is answered `ErrorUnsupportedQueryFilter` rather than ignored; as in
//!   Exchange, FindItem gives Sender and From by name only, without the address, and refuses
//!   `item:Body` and the recipient lists with `ErrorInvalidPropertyRequest`), GetItem,
//!   CreateItem (`SaveOnly`: a draft saved in the folder named), MoveItem, CopyItem
//!   and DeleteItem (HardDelete, SoftDelete, MoveToDeletedItems). Mailbox folders are the
//!   Graph mailboxes themselves (one state; a move over EWS is a move Graph sees); the public
//!   folders are the seed's `public_folders` tree under `IPM_SUBTREE`. Item ids are the
//!   messages' REST ids in EWS spelling (standard base64), so they change with every move as
//!   Exchange's do, with a ChangeKey; a malformed id is `ErrorInvalidIdMalformed`, an id from
//!   before a move `ErrorItemNotFound`. Every id of a call gets its own response message in
//!   request order (`ResponseClass="Error"`, `m:MessageText`, `m:ResponseCode`,
//!   `m:DescriptiveLinkKey`); the others are unaffected. **Moves and copies into a public
//!   folder return no new id** (an empty `m:Items`): Microsoft documents that this can happen
//!   for a destination in another store, and the emulator always does it so that clients cope.
//!   Bad XML is an `ErrorSchemaValidation` fault with line and position, an unknown operation
//!   an `ErrorInvalidRequest` fault (HTTP 500). Requests are recorded in
//!   [`Emulator::requests`] as `EWS {operation}`. The realism switches apply as to Graph:
//!   throttling per (app or Basic account, mailbox) is an `ErrorServerBusy` fault whose
//!   `t:MessageXml` carries `BackOffMilliseconds`; latency is per operation (FindItem and
//!   FindFolder as lists, GetItem and GetFolder as gets, MoveItem and CopyItem as moves); an
//!   injected 429 is `ErrorServerBusy`, 500 an `ErrorInternalServerError` fault, 503 and 504
//!   bare HTML answers, and the connection faults act on the stream as for Graph.
//!
//! Behaviour worth knowing when writing tests:
//! - Without `$orderby`, message lists are newest first (`receivedDateTime desc`). In any
//!   order, a missing or unparseable date sorts before all real dates ascending (so last when
//!   descending).
//! - In `$filter`, a missing or null boolean counts as `false` (`isDraft eq false` keeps seed
//!   messages without `isDraft`); a missing or malformed date never matches a date comparison.
//! - Paging is `$skip`-based over the collection as it is at each request, as in Graph.
//! - Failure modes a test can switch on: per-mailbox delegated access (403 `ErrorAccessDenied`,
//!   [`EmulatorConfig::mailbox_access`], [`Emulator::set_mailbox_access`]), mailboxes not
//!   enabled for REST (404 `MailboxNotEnabledForRESTAPI`, [`Emulator::disable_rest`]), deleted
//!   folders (404 `ErrorItemNotFound`, [`Emulator::remove_folder`]) and full folders (400
//!   `ErrorQuotaExceeded`, [`EmulatorConfig::folder_item_limit`]).
//!
//! Realism switches, all off by default (no throttling, no latency, no faults):
//! - [`Throttling`] per (app client id, mailbox): 429 `ApplicationThrottled` with
//!   `Retry-After` in whole seconds as Graph sends it (rounded up; decimal seconds only when a
//!   test configures a wait under one second) over the concurrency limit or the window budget;
//!   early retries stay throttled ([`EmulatorConfig::throttling`], [`Emulator::set_throttling`]).
//! - `POST /v1.0/$batch` (up to 20 requests, `dependsOn`, 424 for failed dependencies, at most
//!   4 inner requests in parallel); each inner request runs like a top-level one (outer token,
//!   own or outer `Prefer`, throttling, latency, status faults) and is recorded in
//!   [`Emulator::requests`] as `$batch[{id}] /v1.0{url}`.
//! - [`Latency`] per operation (list, get, move, token, other).
//! - [`Faults`]: scripted or seeded random 429, 500, 503, 504, connection reset, timeout,
//!   truncated body, invalid JSON and reset-after-commit ([`FaultKind`]). A fault never changes
//!   mailbox state, except `ResetAfterCommit`, which applies the operation and then resets the
//!   connection. Connection faults act on the TCP stream itself: a reset is a real RST before
//!   any response byte; a truncated body sends the head and half the body, then closes.
//! - [`Emulator::move_by_hand`]: a user moves a message in Outlook (new REST id, same immutable
//!   id).

mod batch;
mod call;
mod config;
mod conn;
mod delta;
mod delta_state;
mod emulator;
mod error;
mod ews;
mod ews_items;
mod ews_ops;
mod ews_soap;
mod ews_store;
mod ews_xml;
mod faults;
mod graph;
mod headers;
mod identity;
mod ids;
mod mailbox;
mod odata;
mod oidc;
mod owa;
mod seed;
mod server;
mod state;
mod throttle;

pub use config::{AppRegistration, EmulatorConfig};
pub use emulator::{Emulator, serve, serve_with};
pub use faults::{FaultKind, Faults, Latency};
pub use seed::{Seed, SeedError};
pub use state::RecordedRequest;
pub use throttle::Throttling;

/// Client id of the demo app registration in [`EmulatorConfig::default`].
pub const DEMO_CLIENT_ID: &str = "8f6c2d1e-0b5a-4c3e-9d7f-1a2b3c4d5e6f";
/// Client secret of the demo app registration (not a real secret).
pub const DEMO_CLIENT_SECRET: &str = "demo~secret.Not-A-Real-One_0123456789";
/// Redirect URI registered for the demo app.
pub const DEMO_REDIRECT_URI: &str = "http://localhost:8471/email-logging/callback";
/// Default account for `/authorize` auto-consent.
pub const DEMO_USER: &str = "logging.agent@cronus.example";
/// A second account that can sign in (via `login_hint`).
pub const DEMO_USER_2: &str = "backup.agent@cronus.example";
/// Tenant id put into id tokens when the request's tenant is not a GUID (`common`, a domain).
pub const DEMO_TENANT_ID: &str = "3c9f2b7e-5a1d-4e8f-9b6c-2d4e6f8a0b1c";
/// The shared mailbox of the built-in sample.
/// The fault mix of the soak test and the soak benchmark: 11% of Graph
/// requests fail, across every kind of fault, with short waits so a test
/// spends its time on work rather than on sleeping.
pub const SOAK_FAULTS: &str = "429=0.02,500=0.015,503=0.015,504=0.01,reset=0.01,timeout=0.01,truncated=0.01,invalid-json=0.01,reset-after-commit=0.01,retry-after=10ms,hold=100ms,seed=7";

pub const SAMPLE_MAILBOX: &str = "email-logging@cronus.example";

/// Built-in sample mailbox for `email-logging@cronus.example`: 13 Inbox messages and 1 Junk
/// Email message, oldest first, 2 to 5 November 2026. It goes with [`SAMPLE_CRM`].
///
/// People: salespeople JO Jim Olive, LT Lina Townsend, BC Benjamin Chiu (`@cronus.example`);
/// contacts CT000010 The Cannon Group PLC, CT000011 Andy Teal (company CT000010, e-mail 2
/// `andy@teal-family.example`), CT000020 Selangorian Ltd., CT000021 Mindy Martin (company
/// CT000020, alternative address `HOME` = `mindy.home@martin-mail.example`), CT000030 Adatum
/// Corporation; `someone@unknown-vendor.example` is unknown. Most messages carry the logging
/// mailbox in Bcc, which matches nobody.
///
/// | # | Subject | Exercises | Entries |
/// |---|---------|-----------|---------|
/// | 1 | Quote Q-1045 for the Cannon Group renovation | outbound: JO to Andy Teal (To) and Mindy Martin + Andy's e-mail 2 (Cc); Andy counted once | 2 (CT000011, CT000021; by JO) |
/// | 2 | RE: Quote Q-1045 ... | inbound from a contact to two salespeople; `sender` is null so `from` is used | 2 (JO, LT; from CT000011) |
/// | 3 | Weekend delivery question | contact matched via e-mail 2 | 1 (BC; from CT000011) |
/// | 4 | Samples received | contact matched via alternative address `HOME` | 1 (LT; from CT000021, alt HOME, company CT000020) |
/// | 5 | Adatum framework agreement | mixed case and surrounding spaces in sender and recipient | 1 (CT000030; by LT) |
/// | 6 | Lunch on Thursday? | internal only (JO to BC) | 0 |
/// | 7 | Joint tender for the harbour project | external only (contact to contact) | 0 |
/// | 8 | Special offer on office chairs | unknown sender | 0 |
/// | 9 | Draft: follow-up on Q-1045 | draft (`isDraft` true) | 0 |
/// | 10 | Notes to self | no recipients | 0 |
/// | 11 | Price list 2027 | outbound LT to Selangorian | 1 (CT000020; by LT) |
/// | 12 | Price list 2027 | same `internetMessageId` as #11 (BCC copy arriving twice) | 0 |
/// | 13 | Invoice question | no `internetMessageId`; inbound from Adatum to BC (To) and JO (Cc) | 2 (BC, JO; from CT000030) |
/// | Junk | You have won a prize | Junk Email is never read by the job | 0 |
///
/// Processing the whole Inbox should create **10** interaction log entries.
pub const SAMPLE_SEED: &str = include_str!("../seeds/sample-mailbox.json");

/// The CRM data the sample mailbox is written for (SPEC §7 CRM seed format). Company contacts
/// carry their own number as `company_no`, as Business Central does.
pub const SAMPLE_CRM: &str = include_str!("../seeds/sample-crm.json");
