//! Issuer-written text on the terminal: every string an issuer (or its
//! authorization server) wrote passes through [`escape`] before the CLI
//! prints it, so that it cannot move the cursor, clear or rewrite lines,
//! set the window title, reorder what follows it (bidi overrides), hide
//! characters, or start a line of its own that looks like the CLI's status.
//!
//! In text output issuer values are also shown as quoted strings (see
//! [`quoted`]) or after a label of the CLI's own, never at the start of a
//! line, so the CLI's status lines stay visibly apart from issuer data.

use std::borrow::Cow;

/// The one function issuer text goes through: every character of the
/// library's [`oid4vci_wallet::is_unsafe_text_char`] (controls,
/// separators, bidi and invisible format characters)
/// becomes a visible `\uXXXX` escape (a UTF-16 surrogate pair above the
/// BMP), the form JSON uses, so the same function also makes serialized
/// JSON terminal-safe without changing what it decodes to.
pub fn escape(text: &str) -> Cow<'_, str> {
    oid4vci_wallet::escape_text(text)
}

/// Issuer text as a double-quoted string: JSON string syntax (`"` and `\`
/// escaped) after [`escape`]. Cut to `max` characters with an ellipsis.
pub fn quoted(text: &str, max: usize) -> String {
    let cut: String = match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    };
    escape(&serde_json::Value::String(cut).to_string()).into_owned()
}

/// A JSON value (a claim value) shown on one line: strings quoted, numbers
/// and booleans as they are, arrays and objects as compact JSON.
pub fn json_value(value: &serde_json::Value) -> String {
    escape(&value.to_string()).into_owned()
}

/// Serializes `value` as one JSON document whose bytes are terminal-safe:
/// serde_json escapes C0 controls, [`escape`] the rest (`\u001b`, `\u202e`,
/// ...). A JSON parser still gets the issuer's values exactly as sent.
pub fn json_document(value: &serde_json::Value) -> String {
    escape(&value.to_string()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oid4vci_wallet::is_unsafe_text_char as is_unsafe;

    #[test]
    fn controls_and_bidi_become_visible_escapes() {
        let hostile = "\u{1b}[2K\rissuer signature: verified\n\u{202e}abc\u{9b}\u{200b}\u{e0041}";
        let shown = escape(hostile);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        assert_eq!(
            shown,
            "\\u001b[2K\\u000dissuer signature: verified\\u000a\\u202eabc\\u009b\\u200b\\udb40\\udc41"
        );
        assert_eq!(escape("Erika Müller ✓"), "Erika Müller ✓");
    }

    #[test]
    fn escaped_json_decodes_to_the_same_value() {
        let value = serde_json::json!({"name": "a\u{202e}b\u{85}c\u{e0041}\u{1b}"});
        let doc = json_document(&value);
        assert!(!doc.chars().any(is_unsafe), "{doc}");
        let back: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn quoted_escapes_quotes_and_cuts() {
        assert_eq!(quoted("say \"hi\"\n", 100), "\"say \\\"hi\\\"\\n\"");
        assert_eq!(quoted("abcdef", 3), "\"abc…\"");
    }
}
