//! Reports: plots (SVG/PNG), tables, HTML.

pub mod plot;
