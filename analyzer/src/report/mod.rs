//! Renderers: a [`Reporter`] turns a [`Document`] into text.

pub mod json;
pub mod table;

use crate::model::Document;

/// Turns a finished document into bytes to print or write.
pub trait Reporter {
    /// Renders the whole document.
    fn render(&self, doc: &Document) -> String;
}

/// Plain-text tables (the default output).
pub fn render_text(doc: &Document) -> String {
    table::TableReporter { markdown: false }.render(doc)
}

/// Markdown (the `--archive` note).
pub fn render_markdown(doc: &Document) -> String {
    table::TableReporter { markdown: true }.render(doc)
}

/// One pretty-printed JSON document (`--json`).
pub fn render_json(doc: &Document) -> String {
    json::JsonReporter.render(doc)
}

/// Number formatting shared by the renderers and the rule details.
pub mod fmt {
    /// A threshold or factor in its shortest form (`0.2`, `2`).
    pub fn num(x: f64) -> String {
        if x.is_finite() && x == x.trunc() && x.abs() < 1e15 {
            format!("{}", x as i64)
        } else {
            let s = format!("{x:.4}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
    }

    /// A ratio with six decimals.
    pub fn ratio(x: f64) -> String {
        format!("{x:.6}")
    }

    /// A fraction as a signed percentage with two decimals (`0.03` → `+3.00%`).
    pub fn pct(x: f64) -> String {
        format!("{:+.2}%", x * 100.0)
    }

    /// An optional value, `-` when absent.
    pub fn opt<T>(x: Option<T>, f: impl Fn(T) -> String) -> String {
        x.map_or_else(|| "-".to_owned(), f)
    }
}
