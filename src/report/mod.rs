//! Reports: plots (SVG/PNG), tidy CSV tables, self-contained HTML.

pub mod figures;
pub mod html;
pub mod plot;
pub mod table;
