//! Self-contained HTML reports: inline CSS, images as `data:` URIs, SVG inline. Nothing is
//! fetched from the network, so the file opens offline and can be mailed as it is.
//!
//! ```
//! use fibstack::report::html::{Html, Block};
//! let mut h = Html::new("Report");
//! h.section("Inputs").push(Block::Paragraph("voxel 20 × 5 × 5 nm".into()));
//! let page = h.render();
//! assert!(page.contains("<h2>Inputs</h2>"));
//! assert!(fibstack::report::html::external_references(&page).is_empty());
//! ```

use crate::io::IoError;
use std::fmt::Write as _;
use std::path::Path;

/// Standard base64 (RFC 4648, with padding).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Escape text for HTML.
pub fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A piece of a section.
#[derive(Debug, Clone)]
pub enum Block {
    /// A paragraph of text (escaped).
    Paragraph(String),
    /// Preformatted text.
    Pre(String),
    /// Header row and rows (already formatted text).
    Table(Vec<String>, Vec<Vec<String>>),
    /// PNG bytes and a caption.
    Png(Vec<u8>, String),
    /// SVG text and a caption.
    Svg(String, String),
    /// A row of PNG images with captions.
    Gallery(Vec<(Vec<u8>, String)>),
    /// Headline numbers as cards: (what, value with unit, detail line).
    Cards(Vec<(String, String, String)>),
    /// Warnings the reader must see (drawn as a highlighted box; nothing when empty).
    Warnings(Vec<String>),
    /// Key–value pairs (e.g. a step's parameters) as a compact definition list.
    Pairs(Vec<(String, String)>),
}

/// A titled section.
#[derive(Debug, Clone)]
pub struct Section {
    /// Section heading.
    pub heading: String,
    /// The section's content, in order.
    pub blocks: Vec<Block>,
}

impl Section {
    /// Append a block; returns the section for chaining.
    pub fn push(&mut self, b: Block) -> &mut Self {
        self.blocks.push(b);
        self
    }
}

/// A report page.
#[derive(Debug, Clone)]
pub struct Html {
    /// Page title (`<title>` and the top heading).
    pub title: String,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

impl Html {
    /// An empty page with a title.
    pub fn new(title: &str) -> Self {
        Html {
            title: title.into(),
            sections: Vec::new(),
        }
    }

    /// Add a section and return it for filling.
    pub fn section(&mut self, heading: &str) -> &mut Section {
        self.sections.push(Section {
            heading: heading.into(),
            blocks: Vec::new(),
        });
        self.sections.last_mut().expect("just pushed")
    }

    /// The page as one string.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
body{{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}\
h1{{border-bottom:2px solid #1f77b4}}h2{{margin-top:2em;border-bottom:1px solid #ccc}}\
.tbl{{max-width:100%;overflow-x:auto;margin:1em 0}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}}th{{white-space:normal;min-width:5em}}th{{background:#f3f6fa}}\
td:first-child,th:first-child{{text-align:left}}figure{{display:inline-block;margin:0.5em;vertical-align:top;max-width:100%}}\
figcaption{{font-size:0.9em;color:#555;max-width:60em}}img{{max-width:100%;height:auto;image-rendering:auto}}pre{{background:#f6f6f6;padding:0.6em;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}}\
.cards{{display:grid;grid-template-columns:repeat(auto-fill,minmax(14em,1fr));gap:0.8em;margin:1em 0}}\
.card{{border:1px solid #cfd8e3;border-radius:6px;padding:0.6em 0.8em;background:#f8fafc}}.card .k{{font-size:0.85em;color:#555}}\
.card .v{{font-size:1.5em;font-weight:600;margin:0.15em 0}}.card .d{{font-size:0.8em;color:#666}}\
.warn{{border-left:5px solid #d55e00;background:#fff4ec;padding:0.5em 1em;margin:1em 0}}.warn li{{margin:0.2em 0}}\
dl.pairs{{display:grid;grid-template-columns:max-content 1fr;gap:0.1em 1em;margin:0.5em 0;font-size:0.9em}}dl.pairs dt{{color:#555}}dl.pairs dd{{margin:0;overflow-wrap:anywhere}}\
@media print{{body{{max-width:none;margin:0}}h2{{break-after:avoid}}figure,.card,table{{break-inside:avoid}}.tbl{{overflow:visible}}}}\
</style></head><body>\n<h1>{}</h1>\n",
            esc(&self.title),
            esc(&self.title)
        );
        for sec in &self.sections {
            let _ = writeln!(s, "<h2>{}</h2>", esc(&sec.heading));
            for b in &sec.blocks {
                match b {
                    Block::Paragraph(t) => {
                        let _ = writeln!(s, "<p>{}</p>", esc(t));
                    }
                    Block::Pre(t) => {
                        let _ = writeln!(s, "<pre>{}</pre>", esc(t));
                    }
                    Block::Table(head, rows) => {
                        s.push_str("<div class=\"tbl\"><table><tr>");
                        for h in head {
                            let _ = write!(s, "<th>{}</th>", esc(h));
                        }
                        s.push_str("</tr>\n");
                        for r in rows {
                            s.push_str("<tr>");
                            for c in r {
                                let _ = write!(s, "<td>{}</td>", esc(c));
                            }
                            s.push_str("</tr>\n");
                        }
                        s.push_str("</table></div>\n");
                    }
                    Block::Png(bytes, cap) => figure_png(&mut s, bytes, cap),
                    Block::Svg(svg, cap) => {
                        let body = svg.trim_start_matches(|c| c != '<');
                        let _ = writeln!(
                            s,
                            "<figure>{body}<figcaption>{}</figcaption></figure>",
                            esc(cap)
                        );
                    }
                    Block::Cards(cards) => {
                        s.push_str("<div class=\"cards\">");
                        for (k, v, d) in cards {
                            let _ = write!(
                                s,
                                "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"d\">{}</div></div>",
                                esc(k),
                                esc(v),
                                esc(d)
                            );
                        }
                        s.push_str("</div>\n");
                    }
                    Block::Warnings(w) if !w.is_empty() => {
                        s.push_str("<div class=\"warn\"><strong>Warnings</strong><ul>");
                        for t in w {
                            let _ = write!(s, "<li>{}</li>", esc(t));
                        }
                        s.push_str("</ul></div>\n");
                    }
                    Block::Warnings(_) => {}
                    Block::Pairs(p) => {
                        s.push_str("<dl class=\"pairs\">");
                        for (k, v) in p {
                            let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
                        }
                        s.push_str("</dl>\n");
                    }
                    Block::Gallery(items) => {
                        s.push_str("<div>");
                        for (bytes, cap) in items {
                            figure_png(&mut s, bytes, cap);
                        }
                        s.push_str("</div>\n");
                    }
                }
            }
        }
        let _ = writeln!(
            s,
            "<hr><p style=\"font-size:0.8em;color:#777\">fibstack {}</p></body></html>",
            env!("CARGO_PKG_VERSION")
        );
        s
    }

    /// Write the page atomically.
    pub fn write(&self, path: &Path) -> Result<(), IoError> {
        crate::io::atomic::write_bytes(path, self.render().as_bytes())
    }
}

fn figure_png(s: &mut String, bytes: &[u8], cap: &str) {
    let _ = writeln!(
        s,
        "<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{}</figcaption></figure>",
        esc(cap),
        base64(bytes),
        esc(cap)
    );
}

/// Every `src=`/`href=` value in `html` that is not embedded (`data:`) or an in-page anchor.
/// An offline-complete report returns an empty list.
pub fn external_references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\"", "url("] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            let v = &rest[i + attr.len()..];
            let end = v.find(['"', ')']).unwrap_or(v.len());
            let val = &v[..end];
            if !(val.starts_with("data:") || val.starts_with('#')) {
                out.push(val.to_string());
            }
            rest = &v[end..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        // RFC 4648 test vectors
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn finds_external_refs() {
        let h = "<img src=\"http://x/y.png\"><img src=\"data:image/png;base64,AA\"><a href=\"#a\">";
        assert_eq!(external_references(h), vec!["http://x/y.png"]);
    }
}
