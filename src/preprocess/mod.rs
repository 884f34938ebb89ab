//! preprocess (see architecture.md).

pub mod align;
pub mod denoise;
pub mod destripe;
pub mod fft2;
pub mod geometry;
pub mod material;
pub mod phasecorr;
pub mod tophat;
pub mod wavelet;
