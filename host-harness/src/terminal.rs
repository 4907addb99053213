//! Text from the records on its way to a terminal.

/// Text from the records as a terminal may show it: control characters
/// (escape sequences could move the cursor, recolour or retitle the
/// terminal) and the Unicode controls that reorder text are written as
/// `\u{..}` escapes instead of being sent to the terminal.
pub fn plain(v: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !v.chars().any(unsafe_char) {
        return v.into();
    }
    v.chars()
        .map(|c| {
            if unsafe_char(c) {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}
