//! Reports: plots (SVG/PNG), tidy CSV tables, self-contained HTML.

pub mod align;
pub mod build;
pub mod figures;
pub mod html;
pub mod plot;
pub mod table;
