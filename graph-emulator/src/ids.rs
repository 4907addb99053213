//! Identifier formats. They only need to look like Exchange's and be unique; nothing decodes them.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use rand::RngCore;

/// Immutable id: survives moves within the mailbox (`Prefer: IdType="ImmutableId"`).
pub(crate) fn immutable_id(serial: u64) -> String {
    let mut bytes = serial.to_be_bytes().to_vec();
    bytes.extend_from_slice(b"IM");
    format!("AAkALgAA{}", URL_SAFE.encode(bytes))
}

/// REST id: changes with every move, which is why it carries the move generation.
pub(crate) fn rest_id(serial: u64, generation: u32) -> String {
    let mut bytes = serial.to_be_bytes().to_vec();
    bytes.extend_from_slice(&generation.to_be_bytes());
    bytes.push(0x52);
    format!("AAMkAG{}", URL_SAFE.encode(bytes))
}

/// Folder ids never change, even when folders move.
pub(crate) fn folder_id(serial: u64) -> String {
    let mut bytes = serial.to_be_bytes().to_vec();
    bytes.push(0x46);
    format!("AQMkAD{}", URL_SAFE.encode(bytes))
}

/// Outlook on the web takes the EWS spelling of the REST id (standard base64 alphabet).
pub(crate) fn rest_to_ews(rest: &str) -> String {
    rest.replace('-', "+").replace('_', "/")
}

pub(crate) fn ews_to_rest(ews: &str) -> String {
    ews.replace('+', "-").replace('/', "_")
}

/// Random opaque secret (tokens, codes) with 32 bytes of entropy.
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A UUID-shaped random id for request-id, trace and correlation ids.
pub(crate) fn uuid_like() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Etags change with every move so that clients see a new version.
pub(crate) fn etag(serial: u64, generation: u32) -> String {
    let mut bytes = b"CQAAABYAAAA".to_vec();
    bytes.extend_from_slice(&serial.to_be_bytes());
    bytes.extend_from_slice(&generation.to_be_bytes());
    format!("W/\"{}\"", STANDARD.encode(bytes))
}

/// The directory's tenant id: the path's when it is a GUID, else the demo tenant.
pub(crate) fn tenant_id(tenant: &str) -> String {
    let guid_like = tenant.len() == 36 && tenant.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if guid_like {
        tenant.to_ascii_lowercase()
    } else {
        crate::DEMO_TENANT_ID.to_string()
    }
}

/// The (serial, generation) of a REST id in its Graph (URL-safe) spelling; `None` when the id
/// is not one this emulator makes.
pub(crate) fn parse_rest_id(rest: &str) -> Option<(u64, u32)> {
    let bytes = URL_SAFE.decode(rest.strip_prefix("AAMkAG")?).ok()?;
    if bytes.len() != 13 || bytes[12] != 0x52 {
        return None;
    }
    let serial = u64::from_be_bytes(bytes[..8].try_into().ok()?);
    let generation = u32::from_be_bytes(bytes[8..12].try_into().ok()?);
    Some((serial, generation))
}

/// Whether a folder id (Graph spelling) is one this emulator could have made.
pub(crate) fn is_folder_id(id: &str) -> bool {
    id.strip_prefix("AQMkAD")
        .and_then(|rest| URL_SAFE.decode(rest).ok())
        .is_some_and(|b| b.len() == 9 && b[8] == 0x46)
}

/// An EWS ChangeKey: opaque, new with every version of the item (its move generation).
pub(crate) fn change_key(serial: u64, generation: u32) -> String {
    let mut bytes = b"CQAAABYAAAA".to_vec();
    bytes.extend_from_slice(&serial.to_be_bytes());
    bytes.extend_from_slice(&generation.to_be_bytes());
    STANDARD.encode(bytes)
}

/// Folders never change version in the emulator, so their ChangeKey is fixed per folder.
pub(crate) fn folder_change_key(id: &str) -> String {
    let mut bytes = b"AQAAABYAAAA".to_vec();
    bytes.extend_from_slice(&id.as_bytes()[id.len().saturating_sub(6)..]);
    STANDARD.encode(bytes)
}
