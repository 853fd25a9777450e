//! JSON output: the [`Document`] serialised as is.

use super::Reporter;
use crate::model::Document;

/// Pretty-printed JSON, one document, newline-terminated.
pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn render(&self, doc: &Document) -> String {
        // Serialising plain structs with string keys cannot fail; keep a
        // fallback anyway so no input can make us panic.
        let mut s =
            serde_json::to_string_pretty(doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        s
    }
}
