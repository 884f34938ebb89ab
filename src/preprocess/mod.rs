//! preprocess (see architecture.md).

pub mod denoise;
pub mod destripe;
pub mod tophat;
