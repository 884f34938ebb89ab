//! preprocess (see architecture.md).
pub mod align;
pub mod align_plot;
pub mod geometry;
pub mod phasecorr;
