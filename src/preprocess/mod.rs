//! preprocess (see architecture.md).

pub mod denoise;
pub mod destripe;
pub mod tophat;
pub mod align;
pub mod align_plot;
pub mod geometry;
pub mod phasecorr;
