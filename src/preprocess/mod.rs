//! preprocess (see architecture.md).

pub mod align;
pub mod align_plot;
pub mod denoise;
pub mod destripe;
pub mod destripe_score;
pub mod destripe_stack;
pub mod destripe_vsnr;
pub mod destripe_wavelet;
pub mod fft2;
pub mod geometry;
pub mod material;
pub mod phasecorr;
pub mod tophat;
pub mod wavelet;
